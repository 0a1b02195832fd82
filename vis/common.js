// Helpers shared by the feature viewer (app.js) and the position explorer (explorer.js):
// classic scripts, loaded first, so these are plain globals. No libraries, no outside requests.
"use strict";

const GENERATE = "python vis/generate_vis_data.py";
const COLUMNS = "abcdef";
const $ = (id) => document.getElementById(id);

async function loadJSON(url, missingHint) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Could not fetch ${url} (${error.message}). Serve this folder with ` +
                    "`cd vis && python -m http.server --bind 127.0.0.1 8000` rather than opening the file directly.");
  }
  if (!response.ok) throw new Error(`${url} is missing (HTTP ${response.status}). ${missingHint}`);
  try {
    return await response.json();
  } catch (error) {
    throw new Error(`${url} is not valid JSON (${error.message}): it is damaged. ${missingHint}`);
  }
}

function square(content, className) {
  const el = document.createElement("div");
  el.className = `square ${className || ""}`;
  if (content) el.append(content);
  return el;
}

function grid(cellFor, className, testid) {
  const board = document.createElement("div");
  board.className = `board ${className || ""}`;
  if (testid) board.dataset.testid = testid;
  board.append(Object.assign(document.createElement("div"), { className: "label" }));
  for (const c of COLUMNS) board.append(Object.assign(document.createElement("div"), { className: "label", textContent: c }));
  for (let row = 0; row < 6; row++) {
    board.append(Object.assign(document.createElement("div"), { className: "label", textContent: row + 1 }));
    for (let col = 0; col < 6; col++) board.append(cellFor(6 * row + col));
  }
  return board;
}

function colour(value, scale, positive, negative) {
  const t = Math.min(1, Math.abs(value) / (scale || 1));
  const [r, g, b] = value >= 0 ? positive : negative;
  return `rgba(${r}, ${g}, ${b}, ${t.toFixed(3)})`;
}

function squareName(action) {
  return action === 36 ? "pass" : `${COLUMNS[action % 6]}${Math.floor(action / 6) + 1}`;
}
