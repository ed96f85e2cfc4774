// How a member's announcement is stored: JSON in field `<persona>:<name hex>` of the membership hash
// (the Lua scripts in membership-lua.ts read and write the same JSON, adding `expiresAt`).
import { type MemberAnnouncement, type Name, type RankReport, toHex } from '@safe/core';

/** What is stored per member, as JSON: field `<persona>:<name hex>` of the hash. */
interface StoredAnnouncement {
  readonly persona: string;
  readonly name: string;
  readonly publicKey: string;
  readonly endpoint: string;
  /** A PmidManager's rank reports, JSON `[[pmid hex, rank], ...]` kept as a string so the heartbeat script compares it whole. */
  readonly ranks?: string;
  /** Milliseconds since the epoch by the REDIS SERVER's clock, so process clocks never matter. */
  readonly expiresAt: number;
}

const HEX = /^(?:[0-9a-f]{2})*$/;

function bytesFromHex(hex: unknown): Uint8Array | undefined {
  if (typeof hex !== 'string' || !HEX.test(hex)) return undefined;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function decodeAnnouncement(raw: string): MemberAnnouncement | undefined {
  let value: Partial<StoredAnnouncement>;
  try {
    value = JSON.parse(raw) as Partial<StoredAnnouncement>;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const name = bytesFromHex(value.name);
  const publicKey = bytesFromHex(value.publicKey);
  if (typeof value.persona !== 'string' || typeof value.endpoint !== 'string' || name === undefined || publicKey === undefined) {
    return undefined;
  }
  const member = { persona: value.persona, name, publicKey, endpoint: value.endpoint };
  if (value.ranks === undefined) return member;
  const rankReports = decodeRanks(value.ranks);
  // Unreadable reports are left out, not the member: its word on ranks is lost, its membership is not.
  return rankReports === null ? { ...member, rankReports: [] } : { ...member, rankReports };
}

function encodeRanks(reports: readonly RankReport[]): string {
  return JSON.stringify(reports.map(({ pmid, rank }) => [toHex(pmid), rank]));
}

/** The stored rank reports, or null when they are not `[[hex, number], ...]` (the routing view checks sizes and ranges). */
function decodeRanks(raw: unknown): RankReport[] | null {
  if (typeof raw !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  const reports: RankReport[] = [];
  for (const item of value) {
    const pmid = Array.isArray(item) ? bytesFromHex(item[0]) : undefined;
    if (pmid === undefined || typeof item[1] !== 'number') return null;
    reports.push({ pmid: pmid as Name, rank: item[1] });
  }
  return reports;
}

export function memberKey(member: MemberAnnouncement): string {
  return `${member.persona}:${toHex(member.name)}`;
}

/** What a watcher compares: persona, name, endpoint and rank reports of every member (not the heartbeat). */
export function signatureOf(members: readonly MemberAnnouncement[]): string {
  return members.map((m) => `${memberKey(m)}@${m.endpoint}#${m.rankReports ? encodeRanks(m.rankReports) : ''}`).join('\n');
}

/** The JSON a member heartbeats (no `expiresAt`: the heartbeat script sets it by the server's clock). */
export function encodeAnnouncement(self: MemberAnnouncement): string {
  return JSON.stringify({
    persona: self.persona,
    name: toHex(self.name),
    publicKey: toHex(self.publicKey),
    endpoint: self.endpoint,
    ...(self.rankReports && self.rankReports.length > 0 ? { ranks: encodeRanks(self.rankReports) } : {}),
  });
}
