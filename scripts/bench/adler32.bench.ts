// ADLER32 throughput per core against zlib's adler32 (python3, C) on the same data in the same run.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Adler32 } from "../../lib/checksum/adler32.ts";
import { report } from "./report.ts";

const MB = 1024 * 1024;
const size = 256 * MB;
const chunk = randomBytes(4 * MB);

const t0 = performance.now();
const sum = new Adler32();
for (let done = 0; done < size; done += chunk.length) sum.update(chunk);
const oursMBs = size / MB / ((performance.now() - t0) / 1000);

const py = `import zlib,time,os
c=os.urandom(${4 * MB}); a=1; t=time.perf_counter()
for _ in range(${size / (4 * MB)}): a=zlib.adler32(c,a)
print(${size / MB}/(time.perf_counter()-t))`;
const zlibMBs = Number(execFileSync("python3", ["-c", py]).toString().trim());

report("adler32 (lib/checksum) throughput, one core", oursMBs, "MB/s", { name: "zlib adler32", value: zlibMBs });
report("zlib adler32 (python3) throughput, one core", zlibMBs, "MB/s");
