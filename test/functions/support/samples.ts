// The sample writers moved to scripts/samples (npm run demo uses them too).
export * from "../../../scripts/samples/detector-files.ts";
