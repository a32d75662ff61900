// The public `whisk.system/utils` package as stock OpenWhisk ships it: small actions that clients'
// own test suites use (echo, sort, ...). Each is ordinary action code run in a container.
export const SYSTEM_NAMESPACE = "whisk.system";

export const UTILS_ACTIONS: Record<string, { code: string; description: string; params?: string[] }> = {
  echo: {
    description: "Returns the input",
    code: `function main(params) {
  return params || {};
}`,
  },
  cat: {
    description: "Concatenates input into a string",
    params: ["lines"],
    code: `function main(params) {
  var lines = params.lines || [];
  var payload = lines.join("\\n");
  console.log("cat: joined " + lines.length + " lines");
  return { lines: lines, payload: payload };
}`,
  },
  sort: {
    description: "Sorts an array",
    params: ["lines"],
    code: `function main(params) {
  var lines = params.lines || [];
  console.log("sort before: " + lines);
  lines.sort();
  console.log("sort after: " + lines);
  return { lines: lines, length: lines.length };
}`,
  },
  head: {
    description: "Extract prefix of an array",
    params: ["lines", "num"],
    code: `function main(params) {
  var lines = params.lines || [];
  var num = params.num || 1;
  var head = lines.slice(0, num);
  console.log("head: the first " + num + " of " + lines.length + " lines");
  return { lines: head, num: num };
}`,
  },
  split: {
    description: "Split a string into an array",
    params: ["payload", "separator"],
    code: `function main(params) {
  var payload = params.payload || "";
  var separator = params.separator || "\\n";
  var lines = payload.split(separator);
  console.log("split: " + lines.length + " pieces");
  return { lines: lines, payload: payload };
}`,
  },
  date: {
    description: "Current date and time",
    code: `function main() {
  var date = new Date();
  console.log("date: " + date.toISOString());
  return { date: date.toISOString() };
}`,
  },
  namespace: {
    description: "Returns namespace for the authorization key used to invoke this action",
    code: `function main() {
  return { namespace: process.env.__OW_NAMESPACE };
}`,
  },
  smash: {
    description: "Nests all properties under given property",
    params: ["$fieldName"],
    code: `function main(params) {
  var field = params.$fieldName;
  var rest = {};
  for (var k in params) if (k !== "$fieldName") rest[k] = params[k];
  console.log("smash: nesting " + Object.keys(rest).length + " properties under " + field);
  var out = {};
  out[field] = rest;
  return out;
}`,
  },
};
