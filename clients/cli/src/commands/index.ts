/** Every command, in the sections of the root help. */
import type { CommandSection } from "../command.js";
import { endpointGroup } from "./endpoint.js";
import { compactionCommand, delCommand, getCommand, putCommand } from "./kv.js";
import { leaseGroup } from "./lease.js";
import { memberGroup } from "./member.js";
import { moveLeaderCommand } from "./move-leader.js";
import { snapshotGroup } from "./snapshot.js";
import { txnCommand } from "./txn.js";
import { versionCommand } from "./version.js";
import { watchCommand } from "./watch.js";

export const COMMAND_SECTIONS: readonly CommandSection[] = [
  { title: "Key-value commands", commands: [getCommand, putCommand, delCommand, txnCommand, compactionCommand, watchCommand, leaseGroup] },
  { title: "Cluster maintenance commands", commands: [memberGroup, moveLeaderCommand, endpointGroup, snapshotGroup] },
  { title: "Utility commands", commands: [versionCommand] },
];
