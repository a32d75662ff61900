// Local dCache-compatible storage: `npm run local:dcache -- --root DIR`. Prints one
// `listening <name> <url>` line per listener once ready; SIGTERM/SIGINT stop it cleanly
// (connected event clients receive SHUTDOWN first).
import { loadAccounts } from "./accounts.ts";
import { parseOptions, USAGE } from "./options.ts";
import { startDcache } from "./server.ts";

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (e) {
    const msg = (e as Error).message;
    process.stderr.write(msg === USAGE ? `${USAGE}\n` : `local dcache: ${msg}\n${USAGE}\n`);
    process.exit(msg === USAGE ? 0 : 2);
  }
  let accounts;
  try {
    accounts = loadAccounts(opts.accountsFile);
  } catch (e) {
    process.stderr.write(`local dcache: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (!opts.accountsFile)
    log(
      'accounts: using the demo account (user "demo", password "demo", bearer token "demo-token", home "/"); pass --accounts FILE for real ones',
    );
  const running = await startDcache({ ...opts, accounts, log });
  log(
    `storage root ${opts.root}; events from ${running.eventSource === "kernel" ? "the kernel (inotifywait): every change in the directory" : "the WebDAV door only"}`,
  );
  process.stdout.write(`listening dcache-frontend ${running.frontendUrl}\n`);
  process.stdout.write(`listening dcache-webdav ${running.webdavUrl}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    await running.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((e) => {
  process.stderr.write(`local dcache: cannot start: ${(e as Error).message}\n`);
  process.exit(1);
});
