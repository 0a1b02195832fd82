// The feature viewer: reads data/index.json and one data/<sae>.json (vis/generate_vis_data.py
// documents the format), and draws one feature at a time. Needs common.js.
"use strict";

const state = { index: null, sae: null, probes: new Map(), order: [], feature: null, samples: "top" };

function fail(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  $("controls").hidden = true;
  $("feature").hidden = true;
}

const ARCHITECTURE_NAMES = { topk: "TopK", batchtopk: "BatchTopK", matryoshka: "Matryoshka", jumprelu: "JumpReLU" };

function kindLabel(sae) {
  if (sae.architecture === "l1") return `L1, lambda = ${sae.l1_penalty}`;
  if (sae.architecture === "jumprelu") return `JumpReLU, lambda = ${sae.l0_penalty}`;
  if (sae.architecture === "panneal") return `p-annealing, lambda = ${sae.l1_penalty}`;
  return `${ARCHITECTURE_NAMES[sae.architecture] || sae.architecture}, k = ${sae.k}`;
}

function fillSelect(select, values, selected) {
  select.replaceChildren(...values.map((v) => new Option(v, v, false, v === selected)));
}

function pickerChanged() {
  const kind = $("sae-kind").value;
  const widths = state.index.saes.filter((s) => kindLabel(s) === kind).map((s) => String(s.n_features));
  const width = widths.includes($("sae-width").value) ? $("sae-width").value : widths[0];
  fillSelect($("sae-width"), widths, width);
  const sae = state.index.saes.find((s) => kindLabel(s) === kind && String(s.n_features) === width);
  openSAE(sae.name, null);
}

async function openSAE(name, featureId) {
  const entry = state.index.saes.find((s) => s.name === name) || state.index.saes[0];
  const hint = `Regenerate the viewer data with \`${GENERATE}\`.`;
  let data;
  try {
    data = await loadJSON(`data/${entry.file}`, hint);
  } catch (error) {
    return fail(error.message);
  }
  if (!Array.isArray(data.features) || !Array.isArray(data.boards)) {
    return fail(`data/${entry.file} lacks its "features" or "boards": it is damaged. ${hint}`);
  }
  state.sae = data;
  state.probes = new Map();  // feature -> [[concept, cosine], ...] of the probes it is closest to
  for (const [concept, feature, cosine] of data.probes || []) {
    if (!state.probes.has(feature)) state.probes.set(feature, []);
    state.probes.get(feature).push([concept, cosine]);
  }
  fillSelect($("sae-kind"), [...new Set(state.index.saes.map(kindLabel))], kindLabel(entry));
  fillSelect($("sae-width"), state.index.saes.filter((s) => kindLabel(s) === kindLabel(entry))
    .map((s) => String(s.n_features)), String(entry.n_features));
  const m = data.sae;
  const pct = (v) => (v == null ? "?" : `${(100 * v).toFixed(1)}%`);
  $("sae-summary").textContent = `${entry.alive_features} of ${m.n_features} features alive · L0 ${m.l0?.toFixed(1)} · ` +
    `variance explained ${pct(m.fve)} · policy KL ${m.policy_kl?.toFixed(3)} · top-1 move kept ${pct(m.top1_agreement)} · ` +
    `${m.positions_scanned.toLocaleString()} held-out positions`;
  $("controls").hidden = false;
  $("superhuman-controls").hidden = !data.superhuman;
  $("superhuman-sort").hidden = !data.superhuman;
  if (!data.superhuman) {  // this SAE has no superhuman analysis: its sort and filter do not apply
    $("superhuman-only").checked = false;
    if ($("sort").value === "superhuman-desc") $("sort").value = "id";
  }
  reorder();
  const alive = state.order.length ? state.order[0] : 0;
  showFeature(featureId != null && data.features[featureId] ? featureId : alive);
}

function reorder() {
  const lo = Number($("min-freq").value) / 100, hi = Number($("max-freq").value) / 100;
  const text = $("concept-filter").value.trim().toLowerCase();
  const matches = (f) => !text || [...(f.labels || []), ...(f.concepts || []).map((c) => c[0])]
    .some((name) => name.toLowerCase().includes(text));
  const unexplainedOnly = $("unexplained-only").checked;
  const alive = state.sae.features.filter((f) => f.frequency > 0 && f.frequency >= lo && f.frequency <= hi && matches(f) &&
    !(unexplainedOnly && f.labels && f.labels.length) && !($("superhuman-only").checked && !f.superhuman?.causal));
  const sort = $("sort").value;
  if (sort === "freq-desc") alive.sort((a, b) => b.frequency - a.frequency);
  if (sort === "freq-asc") alive.sort((a, b) => a.frequency - b.frequency);
  if (sort === "ablation-desc") alive.sort((a, b) => (b.ablate ? b.ablate[1] : 0) - (a.ablate ? a.ablate[1] : 0));
  if (sort === "superhuman-desc") {
    const enrichment = (f) => (f.superhuman ? f.superhuman.enrichment : -Infinity);
    alive.sort((a, b) => enrichment(b) - enrichment(a));
  }
  state.order = alive.map((f) => f.id);
}

function step(delta) {
  if (!state.order.length) return;
  const at = state.order.indexOf(state.feature);
  const next = at < 0 ? 0 : (at + delta + state.order.length) % state.order.length;
  showFeature(state.order[next]);
}

// marks: Map(action -> class) of outlined squares ("promoted", "suppressed", "network-move", "classical-move")
function drawBoard(text, marks, lastMove) {
  return grid((i) => {
    const ch = text[i];
    const piece = ch === "x" || ch === "o" ? Object.assign(document.createElement("span"),
      { className: `disc ${ch === "x" ? "mine" : "theirs"}${i === lastMove ? " last-move" : ""}` }) : null;
    const dot = ch === "*" ? Object.assign(document.createElement("span"), { className: "legal-dot" }) : null;
    const mark = marks.get(i) || "";
    const cell = square(piece || dot, mark);
    if (mark) cell.dataset.testid = `overlay-${mark}`;
    return cell;
  }, "", "board");
}

function drawConcepts(feature) {
  const labels = feature.labels || [];
  const label = labels.length ? `Label: ${labels.join(", ")} (predicted at precision >= 0.95 and well above its base rate)`
    : "Unexplained: it predicts no board concept at precision >= 0.95 and well above its base rate";
  const best = (feature.concepts || []).map(([name, f1, precision, recall, threshold]) =>
    `${name} F1 ${f1.toFixed(2)} (precision ${precision.toFixed(2)}, recall ${recall.toFixed(2)}, above ${threshold} x max)`);
  const probes = (state.probes.get(feature.id) || []).sort((a, b) => b[1] - a[1]).slice(0, 5)
    .map(([concept, cosine]) => `${concept} (cosine ${cosine.toFixed(2)})`);
  const probeText = probes.length ? ` Closest feature to the linear probe of: ${probes.join(", ")}.` : "";
  $("feature-concepts").textContent = `${label}. Best-matching concepts: ${best.join("; ") || "none"}.${probeText}`;
}

function drawEffects(feature) {
  const values = new Map([...feature.promotes, ...feature.suppresses]);
  const scale = Math.max(...[...values.values()].map(Math.abs));
  const board = grid((i) => {
    const cell = square(values.has(i) ? values.get(i).toFixed(2) : "", "");
    if (values.has(i)) cell.style.background = colour(values.get(i), scale, [60, 200, 60], [230, 60, 60]);
    return cell;
  }, "effect-board", "effect-board");
  const list = (pairs) => pairs.map(([a, v]) => `${squareName(a)} ${v >= 0 ? "+" : ""}${v.toFixed(2)}`).join(", ");
  const text = Object.assign(document.createElement("p"), { className: "summary" });
  text.textContent = `promotes ${list(feature.promotes)}; suppresses ${list(feature.suppresses)}`;
  $("effects").replaceChildren(board, text);
  $("value-effect").textContent = `Value effect: ${feature.value >= 0 ? "+" : ""}${feature.value.toFixed(3)} ` +
    "(value-head logit per unit of activation; positive: good for the side to move)";
}

function drawInterventions(feature) {
  const box = $("interventions");
  if (!feature.ablate) {
    box.textContent = "";
    return;
  }
  const part = ([changed, kl, value, move], what, gains) => `${what}: the top move changes on ` +
    `${(100 * changed).toFixed(0)}% of them, policy KL ${kl.toFixed(3)}, value ${value >= 0 ? "+" : ""}` +
    `${value.toFixed(3)}, ${gains} ${squareName(move)}`;
  box.textContent = `On positions where it fires. ` +
    `${part(feature.ablate, "Ablated (its contribution removed)", "the move gaining most without it:")}. ` +
    `${part(feature.steer, `Steered (its direction added at ${feature.max.toFixed(2)}, its max)`, "most pushed toward")}.`;
}

function drawHeat(feature) {
  const all = [...feature.heat.mine, ...feature.heat.theirs, ...feature.heat.empty];
  const scale = Math.max(...all.map(Math.abs), 1e-6);
  $("heat").replaceChildren(...["mine", "theirs", "empty"].map((name) => {
    const figure = document.createElement("div");
    const board = grid((i) => {
      const v = feature.heat[name][i];
      const cell = square(Math.abs(v) >= 0.05 ? (v > 0 ? "+" : "") + Math.round(100 * v) : "", "");
      cell.style.background = colour(v, scale, [40, 110, 220], [230, 140, 30]);
      cell.style.color = "#000";
      cell.title = `${squareName(i)}: ${(100 * v).toFixed(1)} points vs base rate`;
      return cell;
    }, "heat-board");
    figure.append(board, Object.assign(document.createElement("div"), { className: "summary", textContent: name }));
    return figure;
  }));
}

function drawHistogram(feature) {
  const svg = $("histogram");
  const counts = feature.histogram, width = 320, height = 120, bar = width / counts.length;
  const top = Math.max(...counts, 1);
  const ns = "http://www.w3.org/2000/svg";
  const shapes = counts.map((c, i) => {
    const rect = document.createElementNS(ns, "rect");
    const h = (height * c) / top;
    Object.entries({ x: i * bar + 1, y: height - h, width: bar - 2, height: h, fill: "#4a7bd0" })
      .forEach(([k, v]) => rect.setAttribute(k, v));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${((i / counts.length) * feature.max).toFixed(2)}-${(((i + 1) / counts.length) * feature.max).toFixed(2)}: ${c}`;
    rect.append(title);
    return rect;
  });
  const axis = document.createElementNS(ns, "text");
  axis.setAttribute("x", 0);
  axis.setAttribute("y", 136);
  axis.setAttribute("font-size", 11);
  axis.textContent = `0 … ${feature.max.toFixed(2)} (max), ${counts.reduce((a, b) => a + b, 0)} firings`;
  svg.replaceChildren(...shapes, axis);
}

function drawSamples(feature) {
  const marks = new Map([...feature.suppresses.map(([a]) => [a, "suppressed"]),
                         ...feature.promotes.map(([a]) => [a, "promoted"])]);
  const example = ([board, activation]) => {
    const box = Object.assign(document.createElement("div"), { className: "example" });
    const lastMove = state.sae.last_moves ? state.sae.last_moves[board] : -1;
    const caption = lastMove === 36 ? " · after a pass" : "";
    box.append(drawBoard(state.sae.boards[board], marks, lastMove), `activation ${activation.toFixed(2)}${caption}`);
    return box;
  };
  const out = [];
  if (state.samples === "bands") {
    feature.bands.forEach((band, b) => {
      const n = feature.bands.length;
      out.push(Object.assign(document.createElement("div"), { className: "band-title",
        textContent: `band ${b + 1}: activation in (${(b / n).toFixed(2)}, ${((b + 1) / n).toFixed(2)}] x max` }));
      out.push(...band.map(example));
    });
  } else {
    out.push(...feature[state.samples].map(example));
  }
  $("samples").replaceChildren(...out);
}

const percent = (share) => (share == null ? "-" : `${(100 * share).toFixed(0)}%`);
const signed = (v) => `${v >= 0 ? "+" : ""}${v.toFixed(3)}`;

// The feature on the positions where the network keeps the perfect-play outcome and every
// classical player loses it (vis/superhuman.py adds the block).
function drawSuperhuman(feature) {
  const box = $("superhuman"), block = feature.superhuman, run = state.sae.superhuman;
  box.hidden = !block || !run;
  if (box.hidden) return;
  const players = run.players.join(", ");
  let text = `On the ${run.superhuman} superhuman positions of ${run.positions.toLocaleString()} (the network's ` +
    `move keeps the perfect-play outcome, ${players} all lose it) it fires on ${percent(block.fires)}; ` +
    `removing it lowers the log-probability of the network's move by ${signed(block.contribution)} on average ` +
    `(${signed(block.control)} on ${run.control} ordinary positions of the same phases: enrichment ${signed(block.enrichment)}).`;
  if (block.causal) {
    const c = block.causal, r = block.random.causal;
    text += ` Candidate ${block.rank} (by enrichment). Removed on the ${c.positions} where it fires, the network's ` +
      `move changes on ${percent(c.changed)} and loses the outcome on ${percent(c.outcome_lost)}` +
      (c.became_classical == null ? ". " : `; ${percent(c.became_classical)} of the changed moves become ${run.reference_player}'s. `) +
      `A random feature of ` +
      `matched frequency (${block.random.id}) loses it on ${percent(r.outcome_lost)} of its ${r.positions}.`;
  }
  $("superhuman-text").textContent = text;
  $("superhuman-examples").replaceChildren(...(block.examples || []).map((e) => {
    const example = Object.assign(document.createElement("div"), { className: "example" });
    example.dataset.testid = "superhuman-example";
    const marks = new Map([[e.network, "network-move"], [e.classical, "classical-move"]]);
    const empties = [...state.sae.boards[e.board]].filter((c) => c === "." || c === "*").length;
    example.append(drawBoard(state.sae.boards[e.board], marks, state.sae.last_moves ? state.sae.last_moves[e.board] : -1),
      `network ${squareName(e.network)} (${e.network_outcome}) · ${run.reference_player} ` +
      `${squareName(e.classical)} (${e.classical_outcome}) · ${empties} empty`);
    return example;
  }));
}

function showFeature(id) {
  const feature = state.sae.features[id];
  if (!feature) return;
  state.feature = id;
  $("feature-id").value = id;
  $("feature-id").max = state.sae.features.length - 1;
  history.replaceState(null, "", `#sae=${state.sae.sae.name}&feature=${id}`);
  const rank = state.order.indexOf(id);
  $("position").textContent = rank >= 0 ? `${rank + 1} of ${state.order.length} shown` : "not in the current filter";
  $("feature").hidden = false;
  $("feature-title").textContent = `Feature ${id}`;
  if (!feature.frequency) {
    $("feature-stats").textContent = "Dead: it never fires on the held-out positions.";
    for (const part of ["effects", "heat", "samples", "histogram"]) $(part).replaceChildren();
    $("value-effect").textContent = "";
    $("feature-concepts").textContent = "";
    $("interventions").textContent = "";
    $("superhuman").hidden = true;
    return;
  }
  $("feature-stats").textContent = `fires on ${(100 * feature.frequency).toFixed(2)}% of positions, ` +
    `max activation ${feature.max.toFixed(2)}`;
  drawConcepts(feature);
  drawInterventions(feature);
  drawEffects(feature);
  drawHeat(feature);
  drawHistogram(feature);
  drawSamples(feature);
  drawSuperhuman(feature);
}

function wire() {
  $("sae-kind").addEventListener("change", pickerChanged);
  $("sae-width").addEventListener("change", pickerChanged);
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("feature-id").addEventListener("change", () => showFeature(Number($("feature-id").value)));
  for (const id of ["sort", "min-freq", "max-freq", "concept-filter", "unexplained-only", "superhuman-only"]) {
    $(id).addEventListener("change", () => {
      reorder();
      if (!state.order.length) $("position").textContent = "no feature matches these filters";
      else showFeature(state.order.includes(state.feature) ? state.feature : state.order[0]);
    });
  }
  document.querySelectorAll(".tabs button").forEach((button) => button.addEventListener("click", () => {
    state.samples = button.dataset.samples;
    document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b === button));
    drawSamples(state.sae.features[state.feature]);
  }));
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT") return;
    if (event.key === "ArrowLeft") step(-1);
    if (event.key === "ArrowRight") step(1);
  });
}

async function main() {
  wire();
  try {
    state.index = await loadJSON("data/index.json", `Generate the viewer data with \`${GENERATE}\` ` +
      "(after `python train_sae.py`; the README's main job does all of it).");
  } catch (error) {
    return fail(`No viewer data. ${error.message}`);
  }
  if (!Array.isArray(state.index.saes) || !state.index.saes.length) {
    return fail(`data/index.json lists no SAE. Generate the viewer data with \`${GENERATE}\`.`);
  }
  $("explorer-link").hidden = !state.index.explorer;
  const params = new URLSearchParams(location.hash.slice(1));
  const feature = params.has("feature") ? Number(params.get("feature")) : null;
  openSAE(params.get("sae") || state.index.saes[0].name, feature);
}

main();
