// A real `holdfast serve` for the tests: built from this checkout (or
// $HOLDFAST_BIN), on a fresh embedded store, with a staff token and a
// check token.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "../../..");

function binary(dir) {
  if (process.env.HOLDFAST_BIN) {
    return process.env.HOLDFAST_BIN;
  }
  const bin = join(dir, "holdfast");
  execFileSync("go", ["build", "-o", bin, "./cmd/holdfast"], { cwd: repo, stdio: "inherit" });
  return bin;
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

export async function waitReady(url, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url + "/readyz");
      if (r.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** startServer starts holdfast serve; stop() kills it and removes its data. */
export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "holdfast-ts-"));
  const bin = binary(dir);
  const data = join(dir, "data");
  const cli = (...args) => execFileSync(bin, args, { encoding: "utf8" }).trim();
  cli("staff", "add", "--data", data, "--id", "cora", "--roles", "compliance,support");
  const staffToken = cli("token", "create", "--data", data, "--scopes", "staff,check,events", "--staff", "cora");
  const checkToken = cli("token", "create", "--data", data, "--scopes", "check");
  cli("staff", "add", "--data", data, "--id", "lena", "--roles", "le_liaison");
  const liaisonToken = cli("token", "create", "--data", data, "--scopes", "staff", "--staff", "lena");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(bin, ["serve", "--data", data, "--addr", `127.0.0.1:${port}`, "--log-level", "error"], { stdio: "ignore" });
  await waitReady(url);
  return {
    url, port, staffToken, checkToken, liaisonToken, bin, data,
    async stop() {
      proc.kill("SIGKILL");
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
    /** restart starts the same server again, after ms (for the retry test). */
    restartAfter(ms) {
      proc.kill("SIGKILL");
      return new Promise((r) => setTimeout(() => {
        const p = spawn(bin, ["serve", "--data", data, "--addr", `127.0.0.1:${port}`, "--log-level", "error"], { stdio: "ignore" });
        this.stop = async () => { p.kill("SIGKILL"); rmSync(dir, { recursive: true, force: true }); };
        r(waitReady(url));
      }, ms));
    },
  };
}
