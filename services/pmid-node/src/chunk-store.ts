import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CHUNK_COPIES, type ChunkCopy, checkChunk, copyIndex, isMustStore } from '@safe/chunks';
import { ContentMismatchError, type Name, NotFoundError, nameFromHex, OutOfSpaceError, sha512, toHex } from '@safe/core';

const CHUNK_FILE = /^([0-9a-f]{128})\.(\d)$/;

/** One copy on the disk. */
export interface DiskCopy {
  readonly name: Name;
  readonly copy: ChunkCopy;
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

  private constructor(dir: string, capacity: number, used: number) {
    this.dir = dir;
    this.capacity = capacity;
    this.#used = used;
  }

  static async open(dir: string, capacity: number): Promise<ChunkStore> {
    await mkdir(dir, { recursive: true });
    let used = 0;
    for (const fan of await readdir(dir)) {
      const fanDir = join(dir, fan);
      if (!(await stat(fanDir)).isDirectory()) continue;
      for (const file of await readdir(fanDir)) {
        if (file.startsWith('.tmp-')) await rm(join(fanDir, file), { force: true });
        else used += (await stat(join(fanDir, file))).size;
      }
    }
    return new ChunkStore(dir, capacity, used);
  }

  get used(): number {
    return this.#used;
  }

  #path(name: Name, copy: ChunkCopy): { fanDir: string; file: string } {
    const hex = toHex(name);
    const fanDir = join(this.dir, hex.slice(0, 2));
    return { fanDir, file: join(fanDir, `${hex}.${copyIndex(copy)}`) };
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
    const sacrificed = short > 0 ? await this.#sacrificeFor(short, copy, content.length) : [];
    for (const victim of sacrificed) await this.delete(victim.name, victim.copy);
    const { fanDir, file } = this.#path(checked, copy);
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
    return sacrificed.map(({ name, copy }) => ({ name, copy }));
  }

  /**
   * The sacrificial copies to delete so that `short` more bytes fit: largest first, then by name.
   * Largest first loses the fewest copies for the room (each one lost costs the network a re-store
   * and moves the farming rate); the name breaks ties so the choice is the same on every run.
   * Throws OutOfSpaceError, having deleted nothing, for a sacrificial copy or when they cannot make room.
   */
  async #sacrificeFor(short: number, copy: ChunkCopy, needs: number): Promise<(DiskCopy & { size: number })[]> {
    const full = () => new OutOfSpaceError(`PmidNode is full: ${this.#used} of ${this.capacity} bytes used, chunk needs ${needs}`);
    if (!isMustStore(copy)) throw full();
    const held = await Promise.all(
      (await this.list())
        .filter((c) => c.copy === 'SACRIFICIAL')
        .map(async (c) => ({ ...c, size: (await stat(this.#path(c.name, c.copy).file)).size })),
    );
    held.sort((a, b) => b.size - a.size || Buffer.compare(a.name, b.name));
    const chosen: (DiskCopy & { size: number })[] = [];
    let freed = 0;
    for (const victim of held) {
      if (freed >= short) break;
      chosen.push(victim);
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
        const match = CHUNK_FILE.exec(file);
        const copy = CHUNK_COPIES[Number(match?.[2])];
        if (match?.[1] !== undefined && copy !== undefined) held.push({ name: nameFromHex(match[1]), copy });
      }
    }
    return held;
  }

  async delete(name: Name, copy: ChunkCopy): Promise<boolean> {
    const { file } = this.#path(name, copy);
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
