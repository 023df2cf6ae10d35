# shellcheck shell=sh
# HTTP checks made from the host (the app may listen on loopback only).

# Reads a JSON body on stdin; checks "dotted.path" "value" argument pairs against it (a key may hold =).
# shellcheck disable=SC2016 # JavaScript text
BG_JSON_CHECK_JS='let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let b;try{b=JSON.parse(s)}catch{console.error("bg: body is not JSON: "+s.slice(0,200));process.exit(1)}const q=process.argv.slice(1);for(let i=0;i<q.length;i+=2){const k=q[i],v=q[i+1];const got=k.split(".").reduce((o,p)=>o==null?o:o[p],b);if(String(got)!==v){console.error("bg: "+k+" is "+JSON.stringify(got)+", expected "+JSON.stringify(v));process.exit(1)}}})'

# bg_http_check URL SECONDS [KEY VALUE]...: GET URL answers 2xx within SECONDS (and its JSON body has KEY = VALUE).
bg_http_check() {
  url=$1; bg_t=$2; shift 2
  body=$(mktemp) && trap 'rm -f "$body"' EXIT
  # --url: a URL starting with - is not an option; -g: no {a,b} or [1-3] globbing; HTTP only.
  code=$(curl -sS -g --proto =http,https --max-time "$bg_t" -o "$body" -w '%{http_code}' --url "$url") || exit 1
  case "$code" in 2??) ;; *) echo "bg: HTTP $code from $url" >&2; head -c 300 "$body" >&2; exit 1 ;; esac
  # --: a pair starting with - (a JSON key) is an argument, not a node option.
  [ "$#" -eq 0 ] || node -e "$BG_JSON_CHECK_JS" -- "$@" < "$body"
}
