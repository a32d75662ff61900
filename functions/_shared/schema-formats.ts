// The string formats the functions' schemas use. ajv-formats' full set, except `uri`: that is
// checked as the WHATWG URL parser reads it, the parser the functions' HTTP clients use, so a
// value passes exactly when the clients can use it. ajv-formats' RFC 3986 expression for `uri` is
// large enough that compiling it on first use cost a container's first run 5–14 ms, in every
// function that takes a dCache, SciCat or Rucio URL.
import { fullFormats } from "ajv-formats/dist/formats.js";

export const schemaFormats = { ...fullFormats, uri: (value: string) => URL.canParse(value) };
