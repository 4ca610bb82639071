// facectl upload page: sends the photo to the JSON API and draws the boxes over it.
// Without JavaScript the form still posts to /upload and gets a server-rendered page.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("upload"), input = $("image"), drop = $("drop");
  const statusEl = $("status"), errorEl = $("error"), result = $("result");
  const photo = $("photo"), boxes = $("boxes"), summary = $("summary"), list = $("face-list");
  const submit = $("submit"), dlBtn = $("download"), blurBtn = $("blur");
  const blurred = $("blurred"), blurredPhoto = $("blurred-photo"), blurredLink = $("blurred-link");
  const conf = $("min-confidence"), confOut = $("min-confidence-value");
  const maxBytes = Number(form.dataset.maxBytes), maxHuman = form.dataset.maxHuman;
  let file = null, objectURLs = [];

  conf.addEventListener("input", () => { confOut.textContent = Number(conf.value).toFixed(2); });

  function query() {
    const p = new URLSearchParams({ min_confidence: conf.value });
    const det = $("detector");
    if (det) p.set("detector", det.value);
    return p.toString();
  }

  function headers(accept) {
    const h = { Accept: accept };
    const key = $("api-key");
    if (key && key.value) h["X-API-Key"] = key.value;
    return h;
  }

  function setStatus(text) { statusEl.textContent = text; }

  function showError(title, detail) {
    errorEl.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = title;
    errorEl.append(strong);
    if (detail) {
      const p = document.createElement("p");
      p.textContent = detail;
      errorEl.append(p);
    }
    errorEl.hidden = false;
    setStatus("");
  }

  function clearError() { errorEl.hidden = true; errorEl.replaceChildren(); }

  // Error responses are JSON {"error": {"code", "message"}}; turn them into sentences.
  async function describe(resp) {
    let msg = "";
    try { msg = (await resp.json()).error.message || ""; } catch (_) { /* not JSON */ }
    const retry = resp.headers.get("Retry-After");
    switch (resp.status) {
      case 400: return ["The upload was not understood.", msg];
      case 401: return ["An API key is needed.", "Enter a valid key in the API key field and try again."];
      case 413: return ["That photo is too large.", "The limit is " + maxHuman + ". " + msg];
      case 415: return ["That file is not a supported image.", msg || "Use a JPEG, PNG, WebP or BMP photo."];
      case 422: return ["The image could not be read.", msg];
      case 429: return ["The server is busy.", "Please try again" + (retry ? " in " + retry + " seconds." : " shortly.")];
      case 503: return ["The server could not take the photo right now.", "Please try again" + (retry ? " in " + retry + " seconds." : " shortly.")];
      default: return ["Something went wrong (" + resp.status + ").", msg];
    }
  }

  function pick(f) {
    file = f || null;
    $("file-name").textContent = file ? "Selected: " + file.name : "";
    clearError();
    // A result belongs to the photo it came from.
    result.hidden = true;
    blurred.hidden = true;
  }

  input.addEventListener("change", () => pick(input.files[0]));
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const f = e.dataTransfer.files[0];
    if (!f) return;
    try { const dt = new DataTransfer(); dt.items.add(f); input.files = dt.files; } catch (_) { /* old browsers */ }
    pick(f);
  });

  function body() {
    const fd = new FormData();
    fd.append("image", file, file.name);
    return fd;
  }

  function busy(on) { [submit, dlBtn, blurBtn].forEach((b) => { b.disabled = on; }); }

  function track(url) { objectURLs.push(url); return url; }
  function releaseURLs() { objectURLs.forEach((u) => URL.revokeObjectURL(u)); objectURLs = []; }

  function draw(res) {
    boxes.replaceChildren();
    list.replaceChildren();
    res.faces.forEach((f, i) => {
      const pct = Math.round(f.confidence * 100) + "%";
      const label = "Face " + (i + 1) + ", " + pct + " confidence";
      const box = document.createElement("div");
      box.className = "box";
      box.tabIndex = 0;
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", label);
      box.title = label;
      box.style.left = (f.x / res.width * 100) + "%";
      box.style.top = (f.y / res.height * 100) + "%";
      box.style.width = (f.w / res.width * 100) + "%";
      box.style.height = (f.h / res.height * 100) + "%";
      const tip = document.createElement("span");
      tip.className = "tip";
      tip.setAttribute("aria-hidden", "true");
      tip.textContent = pct;
      box.append(tip);
      boxes.append(box);

      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = pct + " confidence, at " + f.x + ", " + f.y + " (" + f.w + "×" + f.h + " px)";
      b.addEventListener("click", () => box.focus());
      li.append(b);
      list.append(li);
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!file) { showError("Choose a photo first.", ""); input.focus(); return; }
    if (file.size > maxBytes) { showError("That photo is too large.", "The limit is " + maxHuman + "."); return; }
    clearError();
    busy(true);
    setStatus("Finding faces…");
    try {
      const resp = await fetch("/api/v1/detect?" + query(), { method: "POST", body: body(), headers: headers("application/json") });
      if (!resp.ok) { const [t, d] = await describe(resp); showError(t, d); return; }
      const res = await resp.json();
      releaseURLs();
      photo.src = track(URL.createObjectURL(file));
      const n = res.faces.length;
      photo.alt = "The uploaded photo, " + n + (n === 1 ? " face" : " faces") + " marked";
      draw(res);
      blurred.hidden = true;
      const text = n + (n === 1 ? " face" : " faces") + " found in " + res.elapsed_ms + " ms";
      summary.textContent = text + " (" + res.width + "×" + res.height + " pixels, detector " + res.detector + ").";
      result.hidden = false;
      setStatus(text + ".");
    } catch (err) {
      showError("The server could not be reached.", String(err.message || err));
    } finally {
      busy(false);
    }
  });

  async function fetchImage(url, what) {
    clearError();
    busy(true);
    setStatus(what + "…");
    try {
      const resp = await fetch(url + "?" + query(), { method: "POST", body: body(), headers: headers("image/jpeg") });
      if (!resp.ok) { const [t, d] = await describe(resp); showError(t, d); return null; }
      return await resp.blob();
    } catch (err) {
      showError("The server could not be reached.", String(err.message || err));
      return null;
    } finally {
      busy(false);
    }
  }

  dlBtn.addEventListener("click", async () => {
    if (!file) return;
    const blob = await fetchImage("/api/v1/detect", "Preparing the annotated image");
    if (!blob) return;
    const a = document.createElement("a");
    a.href = track(URL.createObjectURL(blob));
    a.download = file.name.replace(/\.[^.]*$/, "") + "-faces.jpg";
    document.body.append(a);
    a.click();
    a.remove();
    setStatus("Annotated image downloaded.");
  });

  blurBtn.addEventListener("click", async () => {
    if (!file) return;
    const blob = await fetchImage("/api/v1/blur", "Blurring faces");
    if (!blob) return;
    const url = track(URL.createObjectURL(blob));
    blurredPhoto.src = url;
    blurredLink.href = url;
    blurredLink.download = file.name.replace(/\.[^.]*$/, "") + "-blurred.jpg";
    blurred.hidden = false;
    setStatus("Faces blurred. The blurred photo is shown below the result.");
  });
})();
