"""The live view's single page: the MJPEG stream in an <img> and a panel polled from /status.json.

No external resources (the device may have no internet); the token, if the page was opened with
``?token=``, is passed on to the stream and status requests.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hs-run live</title>
<style>
body{margin:0;font:15px system-ui,sans-serif;background:#111;color:#eee;
  display:flex;flex-wrap:wrap;gap:16px;padding:16px}
#video{max-width:min(100%,960px);background:#000;border-radius:6px;min-width:320px;min-height:180px}
#panel{min-width:260px}
h1{font-size:18px;margin:0 0 8px}
table{border-collapse:collapse;margin:6px 0 12px}td,th{padding:3px 10px 3px 0;text-align:left}
.state{display:inline-block;padding:2px 8px;border-radius:10px;background:#555}
.live{background:#2a7d2a}.reconnecting,.opening{background:#a66a00}.ended,.down{background:#a22}
.muted{color:#999}
</style></head>
<body>
<img id="video" alt="live video">
<div id="panel">
<h1>hs-run <span id="state" class="state">connecting</span></h1>
<div><span id="fps">0.0</span> FPS &middot; <span id="frames">0</span> frames &middot;
<span id="viewers">0</span> viewer(s)</div>
<div>model <span id="model"></span></div>
<h2 style="font-size:15px">Faces now</h2>
<table><thead><tr><th>face</th><th>label</th><th>score</th></tr></thead><tbody id="faces"></tbody></table>
<h2 style="font-size:15px">Since start</h2>
<table><tbody id="counts"></tbody></table>
<div id="health" class="muted"></div>
</div>
<script>
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
document.getElementById("video").src = "stream.mjpg" + q;
function rows(id, items) {
  const body = document.getElementById(id);
  body.replaceChildren(...items.map(cells => {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    return tr;
  }));
}
async function poll() {
  try {
    const s = await (await fetch("status.json" + q, {cache: "no-store"})).json();
    const st = document.getElementById("state");
    st.textContent = s.state; st.className = "state " + s.state;
    document.getElementById("fps").textContent = s.fps.toFixed(1);
    document.getElementById("frames").textContent = s.frames;
    document.getElementById("viewers").textContent = s.viewers;
    document.getElementById("model").textContent = s.model;
    rows("faces", s.faces.length ? s.faces.map(f => ["#" + f.track, f.label, f.score.toFixed(2)])
                                 : [["none", "", ""]]);
    rows("counts", Object.entries(s.counts).map(([k, v]) => [k, v]));
    document.getElementById("health").textContent = s.health;
  } catch (e) {
    const st = document.getElementById("state");
    st.textContent = "down"; st.className = "state down";
  }
  setTimeout(poll, 500);
}
poll();
</script>
</body></html>
"""
