// Viridis, 16 anchor colours (matplotlib's), linearly interpolated to a 256-entry LUT.
const ANCHORS = [
  [68, 1, 84], [72, 26, 108], [71, 47, 125], [65, 68, 135], [57, 86, 140], [49, 104, 142],
  [42, 120, 142], [35, 137, 142], [31, 154, 138], [34, 171, 128], [53, 186, 115],
  [84, 201, 96], [122, 213, 72], [165, 221, 46], [210, 226, 27], [253, 231, 37],
];

export const LUT = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (ANCHORS.length - 1);
    const k = Math.min(Math.floor(x), ANCHORS.length - 2);
    const f = x - k;
    for (let c = 0; c < 3; c++) {
      lut[3 * i + c] = Math.round(ANCHORS[k][c] * (1 - f) + ANCHORS[k + 1][c] * f);
    }
  }
  return lut;
})();
