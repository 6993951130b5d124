/**
 * What `member add` prints after "Member <id> added to cluster <id>": the flags to start the new
 * member with, our counterpart of etcdctl's ETCD_NAME, ETCD_INITIAL_CLUSTER,
 * ETCD_INITIAL_ADVERTISE_PEER_URLS and ETCD_INITIAL_CLUSTER_STATE lines:
 *
 *   --name <name> --initial-cluster <name=url,...> --initial-advertise-peer-urls <url,...> --initial-cluster-state existing
 *
 * --initial-cluster lists every member after the addition, in the order the server gives (by
 * ID), one name=url pair per peer URL: the new member under `name`, a member that has not
 * started yet (no name) under its hex ID, since the server refuses an empty name.
 */
import type { Member } from "@sisyphusdb/client";
import { memberIdHex } from "./text.js";

export function joinFlags(name: string, added: Member, members: readonly Member[]): string {
  const listed = members.some((m) => m.id === added.id) ? members : [...members, added];
  const cluster = listed.flatMap((m) => {
    const label = m.id === added.id ? name : m.name || memberIdHex(m.id);
    const peerUrls = m.id === added.id ? added.peerUrls : m.peerUrls;
    return peerUrls.map((url) => `${label}=${url}`);
  });
  return `--name ${name} --initial-cluster ${cluster.join(",")} --initial-advertise-peer-urls ${added.peerUrls.join(",")} --initial-cluster-state existing`;
}
