// `npm run cluster`: a local 3-member SisyphusDB cluster on one machine, for trying things out.
//
//   member  client URL              peer URL                data
//   s1      http://127.0.0.1:7379   http://127.0.0.1:7380   ./data/cluster/s1
//   s2      http://127.0.0.1:7389   http://127.0.0.1:7390   ./data/cluster/s2
//   s3      http://127.0.0.1:7399   http://127.0.0.1:7400   ./data/cluster/s3
//
// Runs dist/server/src/main.js (npm run cluster builds first) once per member, prefixes each
// member's log lines with its name, prints the endpoints once all three serve, and on Ctrl-C (or
// SIGTERM) sends SIGTERM to each member and waits for them to stop. If a member exits on its own
// the others keep running (that is the point of a cluster); the script exits when all have.
// Extra arguments are passed to every member, e.g. `npm run cluster -- --log-level warn`.
import { spawn } from "node:child_process";
import path from "node:path";
import process from "node:process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const main = path.join(root, "dist/server/src/main.js");
const members = [
  { name: "s1", client: 7379, peer: 7380 },
  { name: "s2", client: 7389, peer: 7390 },
  { name: "s3", client: 7399, peer: 7400 },
];
const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(",");
const extra = process.argv.slice(2);

const children = members.map((m) => {
  const child = spawn(
    process.execPath,
    [
      main,
      "--name", m.name,
      "--data-dir", path.join("data", "cluster", m.name),
      "--listen-client-url", `http://127.0.0.1:${m.client}`,
      "--listen-peer-url", `http://127.0.0.1:${m.peer}`,
      "--initial-cluster", initialCluster,
      "--initial-cluster-token", "sisyphus-local-cluster",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let started = false;
  const onStarted = new Promise((resolve) => {
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on("line", (line) => {
        process.stdout.write(`[${m.name}] ${line}\n`);
        if (!started && line.includes('"member started"')) {
          started = true;
          resolve();
        }
      });
    }
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  exited.then(({ code, signal }) => process.stdout.write(`[${m.name}] exited (code ${code}, signal ${signal})\n`));
  return { ...m, child, onStarted, exited };
});

let stopping = false;
const stop = (signal) => {
  if (stopping) {
    // A second Ctrl-C: stop waiting for the drain.
    for (const c of children) if (c.child.exitCode === null) c.child.kill("SIGKILL");
    return;
  }
  stopping = true;
  process.stdout.write(`\n${signal}: stopping the cluster\n`);
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGTERM");
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

await Promise.race([Promise.all(children.map((c) => c.onStarted)), Promise.all(children.map((c) => c.exited))]);
if (!stopping && children.every((c) => c.child.exitCode === null)) {
  process.stdout.write(
    [
      "",
      "SisyphusDB cluster of 3 members is running (Ctrl-C stops it):",
      ...members.map((m) => `  ${m.name}  client http://127.0.0.1:${m.client}   peer http://127.0.0.1:${m.peer}   data ./data/cluster/${m.name}`),
      "",
      "Try:  npx sisyphusctl --endpoints http://127.0.0.1:7379,http://127.0.0.1:7389,http://127.0.0.1:7399 member list",
      "",
    ].join("\n"),
  );
}
const results = await Promise.all(children.map((c) => c.exited));
process.exitCode = results.every((r) => r.code === 0 || r.signal === "SIGTERM") ? 0 : 1;
