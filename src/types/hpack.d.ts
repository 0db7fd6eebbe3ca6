// The part of hpack.js (no bundled types) that src/api/h2Authority.ts uses.
declare module 'hpack.js' {
  interface HpackHeader {
    name: string;
    value: string;
    neverIndex: boolean;
  }
  interface Decompressor {
    write(chunk: Buffer): void;
    execute(): void;
    read(): HpackHeader | null;
  }
  interface Compressor {
    write(headers: Array<{ name: string; value: string; huffman?: boolean; neverIndex?: boolean }>): void;
    read(): Buffer | null;
  }
  const hpack: {
    decompressor: { create(options: { table: { size: number } }): Decompressor };
    compressor: { create(options: { table: { size: number } }): Compressor };
  };
  export default hpack;
}
