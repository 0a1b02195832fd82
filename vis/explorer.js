// The position explorer: Othello rules, the network's forward pass and an SAE's encoder, all in
// the page, from the weights vis/weights.py exports (index.json's "explorer" entry describes
// them). Needs common.js.
"use strict";

const N = 6, SQUARES = 36, PASS = 36, BLACK = 1, WHITE = -1, SHOWN_FEATURES = 16;
const DIRECTIONS = [[0, 1], [0, -1], [1, 0], [-1, 0], [1, 1], [1, -1], [-1, 1], [-1, -1]];
const game = { board: null, toMove: BLACK, history: [], moves: [] };
const model = { explorer: null, network: null, sae: null, saeName: null, labels: [] };

function fail(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  $("explorer").hidden = true;
}

// ---- rules: board[i] is BLACK, WHITE or 0; square i is row floor(i / 6), column i % 6 ----

function startBoard() {
  const board = new Array(SQUARES).fill(0);
  board[14] = WHITE; board[15] = BLACK; board[20] = BLACK; board[21] = WHITE;  // c3 d3 / c4 d4
  return board;
}

function flips(board, player, square) {
  if (board[square] !== 0) return [];
  const row = Math.floor(square / N), col = square % N, flipped = [];
  for (const [dr, dc] of DIRECTIONS) {
    const run = [];
    let r = row + dr, c = col + dc;
    while (r >= 0 && r < N && c >= 0 && c < N && board[r * N + c] === -player) {
      run.push(r * N + c);
      r += dr; c += dc;
    }
    if (run.length && r >= 0 && r < N && c >= 0 && c < N && board[r * N + c] === player) flipped.push(...run);
  }
  return flipped;
}

function legalMoves(board, player) {
  return [...board.keys()].filter((i) => flips(board, player, i).length > 0);
}

function play(square) {
  const flipped = flips(game.board, game.toMove, square);
  if (!flipped.length) {
    $("message").textContent = `${squareName(square)} is not a legal move for ${sideName(game.toMove)}.`;
    return;
  }
  game.history.push({ board: game.board.slice(), toMove: game.toMove, moves: game.moves.slice() });
  game.board[square] = game.toMove;
  for (const i of flipped) game.board[i] = game.toMove;
  game.moves.push(squareName(square));
  game.toMove = -game.toMove;
  $("message").textContent = "";
  if (!legalMoves(game.board, game.toMove).length && legalMoves(game.board, -game.toMove).length) {
    $("message").textContent = `${sideName(game.toMove)} has no legal move and passes.`;
    game.moves.push("pass");
    game.toMove = -game.toMove;
  }
  update();
}

function sideName(player) {
  return player === BLACK ? "Black" : "White";
}

// ---- the network and the SAE ----

function decodeHalf(bits) {
  const sign = bits & 0x8000 ? -1 : 1, exponent = (bits >> 10) & 0x1f, fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

async function loadTensors(entry) {
  const url = `data/${entry.file}`;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Could not fetch ${url} (${error.message}).`);
  }
  if (!response.ok) throw new Error(`${url} is missing (HTTP ${response.status}). Regenerate with \`${GENERATE}\`.`);
  const buffer = await response.arrayBuffer();
  const half = entry.dtype === "float16";
  const flat = half ? Float32Array.from(new Uint16Array(buffer), decodeHalf) : new Float32Array(buffer);
  const tensors = {};
  for (const [name, [offset, shape]] of Object.entries(entry.tensors)) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (offset + size > flat.length) throw new Error(`${url} is truncated: regenerate it with \`${GENERATE}\`.`);
    tensors[name] = { data: flat.subarray(offset, offset + size), shape };
  }
  return tensors;
}

// y = W x + b for W of shape (out, in), row-major.
function affine(weight, bias, x) {
  const [rows, cols] = weight.shape, y = new Float32Array(rows);
  for (let o = 0; o < rows; o++) {
    let sum = bias.data[o];
    const base = o * cols;
    for (let i = 0; i < cols; i++) sum += weight.data[base + i] * x[i];
    y[o] = sum;
  }
  return y;
}

function residualBlock(k, x) {
  const w = model.network;
  const h = affine(w[`blocks.${k}.weight`], w[`blocks.${k}.bias`], x);
  return x.map((v, i) => v + Math.max(h[i], 0));
}

// The residual stream after block `layer` of the canonical board (+1 side to move).
function streamAt(canonical) {
  const w = model.network;
  let x = affine(w["embed.weight"], w["embed.bias"], canonical).map((v) => Math.max(v, 0));
  for (let k = 0; k <= model.explorer.layer; k++) x = residualBlock(k, x);
  return x;
}

// The rest of the network from a stream: legal-move log-probabilities (null where illegal) and value.
function headsFrom(stream, legal) {
  let x = stream;
  for (let k = model.explorer.layer + 1; k < model.explorer.network.depth; k++) x = residualBlock(k, x);
  const w = model.network;
  const logits = affine(w["policy.weight"], w["policy.bias"], x);
  const value = Math.tanh(affine(w["value.weight"], w["value.bias"], x)[0]);
  const top = Math.max(...legal.map((a) => logits[a]));
  const logSum = top + Math.log(legal.reduce((s, a) => s + Math.exp(logits[a] - top), 0));
  const logp = new Map(legal.map((a) => [a, logits[a] - logSum]));
  return { logp, value };
}

function encode(stream) {
  const s = model.sae, [features, width] = s.encoder.shape, f = new Float32Array(features);
  for (let j = 0; j < features; j++) {
    let sum = s.encoder_bias.data[j];
    const base = j * width;
    for (let i = 0; i < width; i++) sum += s.encoder.data[base + i] * stream[i];
    f[j] = sum;
  }
  const info = model.explorer.saes[model.saeName];
  if (info.architecture === "topk") {
    const kth = [...f].sort((a, b) => b - a)[info.k - 1];
    f.forEach((v, j) => { if (v < kth) f[j] = 0; });
  }
  if (s.threshold) {  // batchtopk, matryoshka, jumprelu: pre where it passes its latent's threshold
    f.forEach((v, j) => { if (v <= s.threshold.data[j]) f[j] = 0; });
  }
  return f.map((v) => Math.max(v, 0));
}

// ---- drawing ----

function drawPosition(legal) {
  const last = game.history.length ? game.moves.filter((m) => m !== "pass").at(-1) : null;
  const legalSet = new Set(legal);
  const board = grid((i) => {
    const v = game.board[i];
    const piece = v ? Object.assign(document.createElement("span"), {
      className: `disc ${v === BLACK ? "black" : "white"}${squareName(i) === last ? " last-move" : ""}` }) : null;
    const dot = !v && legalSet.has(i) ? Object.assign(document.createElement("span"), { className: "legal-dot" }) : null;
    const cell = square(piece || dot, "clickable");
    cell.dataset.testid = `square-${squareName(i)}`;
    cell.addEventListener("click", () => clicked(i));
    return cell;
  }, "explorer-board", "explorer-board");
  $("explorer-board").replaceChildren(board);
  const count = (player) => game.board.filter((v) => v === player).length;
  $("to-move").textContent = legal.length ? `${sideName(game.toMove)} to move`
    : legalMoves(game.board, -game.toMove).length ? `${sideName(game.toMove)} has no legal move: switch the side to move`
    : `Game over: Black ${count(BLACK)}, White ${count(WHITE)}`;
  $("moves").textContent = game.moves.length ? `Moves: ${game.moves.join(" ")}` : "Moves: none yet";
}

function clicked(i) {
  if (!$("edit").checked) return play(i);
  game.board[i] = game.board[i] === 0 ? BLACK : game.board[i] === BLACK ? WHITE : 0;  // cycle
  game.history = [];
  game.moves = [];
  update();
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    td.append(cell);
    tr.append(td);
  }
  return tr;
}

function signed(v, digits) {
  return `${v >= 0 ? "+" : ""}${v.toFixed(digits)}`;
}

function update() {
  const legal = legalMoves(game.board, game.toMove);
  drawPosition(legal);
  const tbody = $("features").querySelector("tbody");
  if (!legal.length) {
    $("value").textContent = "";
    $("policy").replaceChildren();
    tbody.replaceChildren();
    return;
  }
  const canonical = Float32Array.from(game.board, (v) => v * game.toMove);
  const stream = streamAt(canonical);
  const { logp, value } = headsFrom(stream, legal);
  const ranked = [...logp.entries()].sort((a, b) => b[1] - a[1]);
  const best = ranked[0][0];
  $("value").textContent = `value ${signed(value, 3)} for ${sideName(game.toMove)} (+1: a sure win)`;
  $("policy").replaceChildren(...ranked.slice(0, 5).map(([a, lp], rank) => Object.assign(document.createElement("li"), {
    textContent: `${squareName(a)} ${(100 * Math.exp(lp)).toFixed(1)}%`, className: rank === 0 ? "best" : "" })));
  const features = encode(stream);
  const active = [...features.keys()].filter((j) => features[j] > 0).sort((a, b) => features[b] - features[a]);
  const decoder = model.sae.decoder, width = decoder.shape[1];
  tbody.replaceChildren(...active.slice(0, SHOWN_FEATURES).map((j) => {
    const direction = decoder.data.subarray(j * width, (j + 1) * width);
    const without = headsFrom(stream.map((v, i) => v - features[j] * direction[i]), legal);
    const link = Object.assign(document.createElement("a"), {
      href: `index.html#sae=${model.saeName}&feature=${j}`, textContent: `#${j}` });
    const labels = model.labels[j] || [];
    const tr = row([link, features[j].toFixed(3), labels.length ? labels.slice(0, 3).join(", ") : "unexplained",
                    signed(logp.get(best) - without.logp.get(best), 3), signed(value - without.value, 3)]);
    tr.dataset.testid = "explorer-feature";
    tr.dataset.feature = j;
    return tr;
  }));
}

// ---- loading ----

async function openSAE(name) {
  const info = model.explorer.saes[name];
  const entry = model.index.saes.find((s) => s.name === name);
  const [tensors, data] = await Promise.all([loadTensors(info), loadJSON(`data/${entry.file}`, `Regenerate with \`${GENERATE}\`.`)]);
  model.sae = tensors;
  model.saeName = name;
  model.labels = data.features.map((f) => f.labels || []);
  history.replaceState(null, "", `#sae=${name}`);
  update();
}

function wire() {
  $("undo").addEventListener("click", () => {
    const previous = game.history.pop();
    if (!previous) return;
    Object.assign(game, { board: previous.board, toMove: previous.toMove, moves: previous.moves });
    $("message").textContent = "";
    update();
  });
  $("restart").addEventListener("click", () => {
    Object.assign(game, { board: startBoard(), toMove: BLACK, history: [], moves: [] });
    $("message").textContent = "";
    update();
  });
  $("edit").addEventListener("change", () => { $("switch-side").hidden = !$("edit").checked; });
  $("switch-side").addEventListener("click", () => {
    game.toMove = -game.toMove;
    update();
  });
  $("explorer-sae").addEventListener("change", () => openSAE($("explorer-sae").value).catch((e) => fail(e.message)));
}

async function main() {
  wire();
  game.board = startBoard();
  try {
    model.index = await loadJSON("data/index.json", `Generate the viewer data with \`${GENERATE}\`.`);
    model.explorer = model.index.explorer;
    if (!model.explorer || !Object.keys(model.explorer.saes).length) {
      return fail(`data/index.json has no explorer weights: regenerate the viewer data with \`${GENERATE}\`.`);
    }
    model.network = await loadTensors(model.explorer.network);
    const names = Object.keys(model.explorer.saes);
    const wanted = new URLSearchParams(location.hash.slice(1)).get("sae");
    const name = names.includes(wanted) ? wanted : names[0];
    $("explorer-sae").replaceChildren(...names.map((n) => new Option(n, n, false, n === name)));
    $("explorer").hidden = false;
    await openSAE(name);
  } catch (error) {
    fail(error.message);
  }
}

main();
