import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CHUNK_COPIES, ChunkCopy, checkChunk, copyIndex, isMustStore } from '@safe/chunks';
import { ContentMismatchError, type Name, NotFoundError, nameFromHex, OutOfSpaceError, sha512, toHex } from '@safe/core';

const CHUNK_FILE = /^([0-9a-f]{128})\.(\d)$/;

/** One copy on the disk. */
export interface DiskCopy {
  readonly name: Name;
  readonly copy: ChunkCopy;
}

/** The copy a chunk file holds, from its name (`<128 hex>.<copy index>`); undefined for any other file. */
function diskCopyOf(file: string): DiskCopy | undefined {
  const match = CHUNK_FILE.exec(file);
  const copy = CHUNK_COPIES[Number(match?.[2])];
  return match?.[1] !== undefined && copy !== undefined ? { name: nameFromHex(match[1]), copy } : undefined;
}

/**
 * Chunks on the PmidNode's own disk: one file per (chunk, copy) under `dir`, fanned out by the
 * first byte of the name. Writes are atomic (temp file, fsync, rename), so a crash leaves either
 * the whole chunk or none of it. Every chunk is checked against its name on write and on read.
 */
export class ChunkStore {
  readonly dir: string;
  readonly capacity: number;
  #used: number;
  /**
   * The sacrificial copies on the disk (by file name) with their sizes, oldest first: the order
   * they are given up in. Map order is insertion order, so a store appends and no clock is read
   * (a simulated network replays alike); on open the files' modification times set it.
   */
  readonly #sacrificial: Map<string, { copy: DiskCopy; size: number }>;

  private constructor(dir: string, capacity: number, used: number, sacrificial: Map<string, { copy: DiskCopy; size: number }>) {
    this.dir = dir;
    this.capacity = capacity;
    this.#used = used;
    this.#sacrificial = sacrificial;
  }

  static async open(dir: string, capacity: number): Promise<ChunkStore> {
    await mkdir(dir, { recursive: true });
    let used = 0;
    const sacrificial: { file: string; copy: DiskCopy; size: number; mtimeMs: number }[] = [];
    for (const fan of await readdir(dir)) {
      const fanDir = join(dir, fan);
      if (!(await stat(fanDir)).isDirectory()) continue;
      for (const file of await readdir(fanDir)) {
        if (file.startsWith('.tmp-')) {
          await rm(join(fanDir, file), { force: true });
          continue;
        }
        const { size, mtimeMs } = await stat(join(fanDir, file));
        used += size;
        const copy = diskCopyOf(file);
        if (copy?.copy === ChunkCopy.SACRIFICIAL) sacrificial.push({ file, copy, size, mtimeMs });
      }
    }
    sacrificial.sort((a, b) => a.mtimeMs - b.mtimeMs || a.file.localeCompare(b.file));
    return new ChunkStore(dir, capacity, used, new Map(sacrificial.map(({ file, copy, size }) => [file, { copy, size }])));
  }

  get used(): number {
    return this.#used;
  }

  #path(name: Name, copy: ChunkCopy): { fanDir: string; file: string; base: string } {
    const hex = toHex(name);
    const fanDir = join(this.dir, hex.slice(0, 2));
    const base = `${hex}.${copyIndex(copy)}`;
    return { fanDir, file: join(fanDir, base), base };
  }

  async has(name: Name, copy: ChunkCopy): Promise<boolean> {
    try {
      await stat(this.#path(name, copy).file);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Stores a copy; storing the same copy again is a no-op. A must-store copy that does not fit
   * makes room by deleting sacrificial copies (SPEC.md 3.3) and returns those it deleted, for the
   * node to report. Room is checked first: when even every sacrificial copy would not make enough,
   * nothing is deleted and the store fails.
   */
  async put(name: Uint8Array, copy: ChunkCopy, content: Uint8Array): Promise<DiskCopy[]> {
    const checked = checkChunk(name, content);
    if (await this.has(checked, copy)) return [];
    const short = this.#used + content.length - this.capacity;
    const sacrificed = short > 0 ? this.#sacrificeFor(short, copy, content.length) : [];
    for (const victim of sacrificed) await this.delete(victim.name, victim.copy);
    const { fanDir, file, base } = this.#path(checked, copy);
    await mkdir(fanDir, { recursive: true });
    const temp = join(fanDir, `.tmp-${randomBytes(8).toString('hex')}`);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    this.#used += content.length;
    if (copy === ChunkCopy.SACRIFICIAL) this.#sacrificial.set(base, { copy: { name: checked, copy }, size: content.length });
    return sacrificed;
  }

  /**
   * The sacrificial copies to delete so that `short` more bytes fit: the longest on the disk first.
   * A copy stored moments ago may still have its store on its way to its PmidManagers and
   * DataManagers, and deleting it would race its own PutResponse; one stored long ago was recorded
   * by all of them long ago. Throws OutOfSpaceError, having deleted nothing, for a sacrificial
   * copy or when they cannot make room.
   */
  #sacrificeFor(short: number, copy: ChunkCopy, needs: number): DiskCopy[] {
    const full = () => new OutOfSpaceError(`PmidNode is full: ${this.#used} of ${this.capacity} bytes used, chunk needs ${needs}`);
    if (!isMustStore(copy)) throw full();
    const chosen: DiskCopy[] = [];
    let freed = 0;
    for (const victim of this.#sacrificial.values()) {
      if (freed >= short) break;
      chosen.push(victim.copy);
      freed += victim.size;
    }
    if (freed < short) throw full();
    return chosen;
  }

  /** Reads a copy; a copy whose content no longer hashes to its name is reported as corrupt. */
  async get(name: Name, copy: ChunkCopy): Promise<Uint8Array> {
    let content: Uint8Array;
    try {
      content = new Uint8Array(await readFile(this.#path(name, copy).file));
    } catch {
      throw new NotFoundError(`chunk ${toHex(name).slice(0, 16)}… is not on this PmidNode`);
    }
    try {
      checkChunk(name, content);
    } catch {
      throw new ContentMismatchError(`chunk ${toHex(name).slice(0, 16)}… is corrupt on this PmidNode`);
    }
    return content;
  }

  /**
   * SHA-512(the copy's bytes on disk ‖ nonce), for a DataManagers' integrity check; undefined when
   * the copy is not here. The bytes are not checked against the name: the DataManagers judge by
   * comparing holders' answers, so a corrupt copy answers what it really holds.
   */
  async digest(name: Name, copy: ChunkCopy, nonce: Uint8Array): Promise<Uint8Array | undefined> {
    let content: Uint8Array;
    try {
      content = new Uint8Array(await readFile(this.#path(name, copy).file));
    } catch {
      return undefined;
    }
    return sha512(content, nonce);
  }

  /** Every copy on the disk, read from the file names (`<128 hex>.<copy index>`); anything else is skipped. */
  async list(): Promise<DiskCopy[]> {
    const held: DiskCopy[] = [];
    for (const fan of await readdir(this.dir)) {
      const fanDir = join(this.dir, fan);
      if (!(await stat(fanDir)).isDirectory()) continue;
      for (const file of await readdir(fanDir)) {
        const copy = diskCopyOf(file);
        if (copy !== undefined) held.push(copy);
      }
    }
    return held;
  }

  async delete(name: Name, copy: ChunkCopy): Promise<boolean> {
    const { file, base } = this.#path(name, copy);
    this.#sacrificial.delete(base);
    try {
      const { size } = await stat(file);
      await rm(file);
      this.#used -= size;
      return true;
    } catch {
      return false;
    }
  }
}
