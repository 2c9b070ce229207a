// Web files held in memory, and the built-in test page served when no web app was built.
#include "gateway/app.hpp"

#include "core/log.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sg::gateway {
namespace {

const char* test_page = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>streamgate test page</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:860px;margin:24px auto;padding:0 16px;color:#1f2328}
h1{font-size:20px;margin:0 0 4px} .muted{color:#667}
#status{display:inline-flex;align-items:center;gap:6px} .dot{width:9px;height:9px;border-radius:50%;background:#d33}
.dot.ok{background:#2a2} .dot.wait{background:#db2}
form{display:grid;grid-template-columns:140px 1fr;gap:8px;margin:16px 0}
input,textarea,button{font:inherit;padding:6px 8px;border:1px solid #ccd;border-radius:6px}
button{cursor:pointer;background:#2563eb;color:#fff;border:0} button.secondary{background:#667}
.bar{height:8px;background:#dbe6fb;border-radius:4px;overflow:hidden} .bar>div{height:100%;width:0;background:#2563eb;transition:width .3s}
#answer{white-space:pre-wrap;border:1px solid #e3e6ea;border-radius:8px;padding:12px;min-height:120px;margin-top:8px}
#log{font:12px/1.4 ui-monospace,monospace;max-height:260px;overflow:auto;background:#f6f8fa;padding:8px;border-radius:8px}
</style></head><body>
<h1>streamgate</h1>
<div class="muted">Built-in test page. Build the web app (<code>make run</code>) for the full studio.</div>
<p><span id="status"><span class="dot wait" id="dot"></span><span id="statustext">Connecting...</span></span></p>
<form id="f">
<label for="project">Project</label><input id="project" value="test">
<label for="input">Ask</label><textarea id="input" rows="2">Hello</textarea>
<span></span><span><button id="go" type="submit">Stream</button> <button id="stop" type="button" class="secondary">Cancel</button></span>
</form>
<div class="bar"><div id="progress"></div></div>
<div class="muted" id="step">&nbsp;</div>
<div id="answer"></div>
<p class="muted" id="metrics"></p>
<h2 style="font-size:15px">Events</h2><div id="log"></div>
<script>
const $=id=>document.getElementById(id);
let ws,current=null,lastSeq=0,t0=0,chunks=0,first=0;
function log(s){const d=document.createElement('div');d.textContent=s;$('log').prepend(d);}
function status(kind,text){$('dot').className='dot '+kind;$('statustext').textContent=text;}
function connect(){
  ws=new WebSocket((location.protocol==='https:'?'wss://':'ws://')+location.host+'/ws');
  status('wait','Connecting...');
  ws.onopen=()=>{status('ok','Real-time streaming connected');if(current)ws.send(JSON.stringify({action:'resume',streamId:current,lastSeq}));};
  ws.onclose=e=>{status('','Disconnected ('+e.code+'), retrying...');setTimeout(connect,1000);};
  ws.onmessage=e=>{const m=JSON.parse(e.data);log(e.data.length>300?e.data.slice(0,300)+'...':e.data);
    if(m.seq){if(m.seq<=lastSeq&&m.streamId===current)return;lastSeq=m.seq;}
    switch(m.type){
    case 'stream_start':current=m.streamId;break;
    case 'progress':$('progress').style.width=m.progress+'%';$('step').textContent=m.stage+': '+m.step;break;
    case 'stream_chunk':if(!chunks)first=performance.now()-t0;chunks++;$('answer').textContent+=m.content;break;
    case 'stream_complete':$('progress').style.width='100%';$('step').textContent='complete';
      $('answer').textContent=m.fullContent;current=null;
      $('metrics').textContent='first chunk in '+Math.round(first)+' ms · '+chunks+' chunks · '+m.metrics.durationMs+' ms on the server · '+m.usage.outputTokens+' tokens';break;
    case 'stream_cancelled':$('step').textContent='cancelled';current=null;break;
    case 'error':$('step').textContent='error: '+m.code+' - '+m.message;if(m.streamId===current)current=null;break;}
  };
}
$('f').onsubmit=ev=>{ev.preventDefault();$('answer').textContent='';$('metrics').textContent='';chunks=0;lastSeq=0;t0=performance.now();
  ws.send(JSON.stringify({action:'stream',projectId:$('project').value,userInput:$('input').value,requestId:'page-'+Date.now()}));};
$('stop').onclick=()=>{if(current)ws.send(JSON.stringify({action:'cancel',streamId:current}));};
connect();
</script></body></html>
)html";

std::string content_type_of(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

web_content load_web_files(const std::string& root) {
  namespace fs = std::filesystem;
  web_content out;
  std::error_code ec;
  if (!root.empty() && fs::is_regular_file(fs::path(root) / "index.html", ec)) {
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file() || it->file_size() > 8u * 1024 * 1024) continue;
      std::ifstream in(it->path(), std::ios::binary);
      std::ostringstream body;
      body << in.rdbuf();
      auto rel = "/" + fs::relative(it->path(), root).generic_string();
      out.files[rel] = static_file{content_type_of(it->path()), body.str()};
    }
    out.spa = true;
    core::log_info("serving web app", {{"root", root}, {"files", out.files.size()}});
  }
  if (!out.spa) out.files["/index.html"] = static_file{"text/html; charset=utf-8", test_page};
  return out;
}

}  // namespace sg::gateway
