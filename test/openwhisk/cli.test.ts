// The entry point: flags and env equivalents, the wskprops file for wsk-compatible CLIs, and clear
// errors for bad options.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openwhisk from "openwhisk";
import { projectRoot, startService } from "../support/service.ts";
import { GUEST_AUTH, removeDir } from "./support.ts";

describe("local openwhisk: command line", function () {
  this.timeout(30_000);

  it("takes its port and data dir from the environment and writes a wskprops file clients can use", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ow-cli-"));
    const svc = await startService("local/openwhisk/main.ts", [], {
      listeners: ["openwhisk"],
      env: { OW_LOCAL_PORT: "0", OW_LOCAL_DATA_DIR: dir },
    });
    try {
      const props = Object.fromEntries(
        readFileSync(join(dir, "wskprops"), "utf8")
          .trim()
          .split("\n")
          .map((l) => l.split("=") as [string, string]),
      );
      expect(props).to.deep.equal({ APIHOST: svc.urls.openwhisk, AUTH: GUEST_AUTH, NAMESPACE: "guest" });
      expect(svc.output()).to.include(`export WSK_CONFIG_FILE=${join(dir, "wskprops")}`);
      const ow = openwhisk({ apihost: props.APIHOST, api_key: props.AUTH, namespace: props.NAMESPACE });
      expect(await ow.namespaces.list()).to.deep.equal(["guest"]);
    } finally {
      await svc.stop();
      removeDir(dir);
    }
  });

  it("refuses bad options with a message and the usage", () => {
    for (const args of [["--port", "http"], ["--frobnicate"]]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", "local/openwhisk/main.ts", ...args], {
        cwd: projectRoot,
        encoding: "utf8",
      });
      expect(r.status, args.join(" ")).to.equal(2);
      expect(r.stderr).to.match(/local openwhisk: .+/);
      expect(r.stderr).to.include("usage: npm run local:openwhisk");
    }
  });
});
