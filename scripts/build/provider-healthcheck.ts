// The container's health check: exit 0 when the provider on this host answers GET /health with 200.
const port = process.env.PROVIDER_PORT ?? "3300";
fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) }).then(
  (res) => {
    if (res.status !== 200) process.stderr.write(`provider /health answered ${res.status}\n`);
    process.exit(res.status === 200 ? 0 : 1);
  },
  (err: Error) => {
    process.stderr.write(`provider /health not reachable on port ${port}: ${err.message}\n`);
    process.exit(1);
  },
);
