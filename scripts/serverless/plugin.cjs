// serverless@3 loads plugins with require(); this shim lets Node require the TypeScript plugin
// through tsx (registered globally: a namespaced tsx require breaks esbuild's binary lookup).
"use strict";
require("tsx/cjs/api").register();
module.exports = require("./plugin.ts").default;
