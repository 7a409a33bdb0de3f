// The draw-a-digit page: strokes on a canvas (mouse, touch or pen: Pointer Events), sent to POST /predict a
// moment after the pen stops (debounced), and the answer drawn: digit, "unsure", the 28x28 the model saw, ten bars.
"use strict";

const DEBOUNCE_MS = 150;       // wait this long after the last movement before asking
const STROKE = 0.08;           // pen width as a share of the canvas side: MNIST-like strokes once scaled to 20 px

const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const seen = document.getElementById("seen").getContext("2d");
const statusLine = document.getElementById("status");
let timer = null;
let latest = 0;                // the newest request sent: older answers that arrive late are dropped
let drawing = false;
let drawn = false;

function blank() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  ink.strokeStyle = "#111";
  ink.lineWidth = STROKE * pad.width;
  ink.lineCap = ink.lineJoin = "round";
  drawn = false;
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  drawn = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  ink.beginPath();
  ink.moveTo(x, y);
  ink.lineTo(x + 0.01, y);     // a tap leaves a dot
  ink.stroke();
  event.preventDefault();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ink.lineTo(x, y);
  ink.stroke();
  schedule();
});

for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    schedule();
  });
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => pad.toBlob((blob) => ask(blob, "drawing.png")), DEBOUNCE_MS);
}

async function ask(blob, name) {
  const id = ++latest;
  const form = new FormData();
  form.append("file", blob, name);
  statusLine.classList.remove("error");
  statusLine.textContent = "Reading…";
  let response, body;
  try {
    response = await fetch("/predict", { method: "POST", body: form });
    body = await response.json();
  } catch (error) {
    if (id === latest) fail("The server did not answer. Is it still running?");
    return;
  }
  if (id !== latest) return;
  if (!response.ok) {
    fail(body.detail || `The server answered ${response.status}.`);
    return;
  }
  show(body);
}

function fail(message) {
  statusLine.textContent = message;
  statusLine.classList.add("error");
  document.getElementById("digit").textContent = "–";
  document.getElementById("confidence").textContent = "";
  document.getElementById("unsure").hidden = true;
  bars(null);
}

function show(result) {
  document.getElementById("digit").textContent = result.digit;
  document.getElementById("confidence").textContent = `${(100 * result.probability).toFixed(1)} % sure`;
  document.getElementById("unsure").hidden = !result.unsure;
  statusLine.textContent = result.notes.length ? result.notes.join("; ") : "";
  const pixels = seen.createImageData(28, 28);
  result.image.flat().forEach((value, i) => {
    pixels.data.set([value, value, value, 255], 4 * i);
  });
  seen.putImageData(pixels, 0, 0);
  bars(result.probabilities, result.digit);
}

function bars(probabilities, top) {
  document.querySelectorAll("#bars li").forEach((row, digit) => {
    const p = probabilities ? probabilities[digit] : 0;
    row.classList.toggle("top", digit === top);
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".value").textContent = probabilities ? `${(100 * p).toFixed(1)}%` : "";
  });
}

function buildBars() {
  const list = document.getElementById("bars");
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement("li");
    row.innerHTML = `<span>${digit}</span><span class="track"><span class="fill"></span></span><span class="value"></span>`;
    list.append(row);
  }
}

document.getElementById("clear").addEventListener("click", () => {
  clearTimeout(timer);
  latest++;                    // an answer still on its way belongs to the old drawing
  blank();
  seen.clearRect(0, 0, 28, 28);
  fail("");
  statusLine.classList.remove("error");
  statusLine.textContent = "Draw with a mouse, a finger or a pen.";
});

document.getElementById("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const picture = new Image();
  picture.onload = () => {     // shown on the pad, scaled to fit; the file itself is what gets classified
    blank();
    const scale = Math.min(pad.width / picture.width, pad.height / picture.height);
    const w = picture.width * scale, h = picture.height * scale;
    ink.drawImage(picture, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    URL.revokeObjectURL(picture.src);
  };
  picture.src = URL.createObjectURL(file);
  ask(file, file.name);
  event.target.value = "";     // the same file can be chosen again
});

async function loadCard() {
  const labels = {
    architecture: "architecture", parameters: "parameters", test_accuracy: "test accuracy",
    training: "trained with", temperature: "temperature", runtime: "runs on", file: "file",
  };
  const card = await (await fetch("/model")).json();
  const list = document.getElementById("card");
  for (const [key, label] of Object.entries(labels)) {
    let value = card[key];
    if (key === "parameters") value = value.toLocaleString("en");
    const testSet = card.trained_on.dataset === "mnist" ? "the official 10,000 MNIST test images" : `the test images of data=${card.trained_on.dataset}`;
    if (key === "test_accuracy") value = value == null ? "not recorded" : `${(100 * value).toFixed(2)} % on ${testSet}`;
    if (key === "temperature") value = Number(value).toFixed(3) + (Number(value) === 1 ? " (not fitted)" : " (fitted on validation images)");
    const term = document.createElement("dt");
    term.textContent = label;
    const detail = document.createElement("dd");
    detail.textContent = value;
    detail.id = `card-${key}`;
    list.append(term, detail);
  }
}

blank();
buildBars();
loadCard();
