/** The dashboard's stylesheet: plain CSS, system fonts, light and dark schemes, readable at any width. */
export const DASHBOARD_STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa;
  --line: #d1d9e0; --accent: #0550ae; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23;
  --line: #3d444d; --accent: #58a6ff; --ok: #3fb950; --warn: #d29922; --bad: #f85149; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
header { display: flex; align-items: center; gap: 1rem; padding: .5rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); flex-wrap: wrap; }
header .brand { font-weight: 700; margin-right: .5rem; }
header nav { display: flex; gap: .25rem; flex-wrap: wrap; }
header nav a { padding: .3rem .6rem; border-radius: 6px; text-decoration: none; color: var(--fg); }
header nav a[aria-current="page"] { background: var(--bg); border: 1px solid var(--line); }
header .who { margin-left: auto; color: var(--muted); display: flex; gap: .5rem; align-items: center; }
main { padding: 1rem; max-width: 1400px; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .6rem; overflow: auto; max-height: 30rem; white-space: pre-wrap; word-break: break-word; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .75rem; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .75rem; }
.card .value { font-size: 1.5rem; font-weight: 700; }
.card .label { color: var(--muted); }
.status { display: inline-block; padding: 0 .45rem; border-radius: 999px; border: 1px solid var(--line); font-size: .85em; }
.status-completed { color: var(--ok); } .status-dead, .status-failed { color: var(--bad); }
.status-running, .status-retrying { color: var(--warn); }
.warning { border-left: 4px solid var(--warn); background: var(--panel); padding: .5rem .75rem; margin: .5rem 0; }
.error { border-left: 4px solid var(--bad); background: var(--panel); padding: .5rem .75rem; margin: .5rem 0; }
.notice { border-left: 4px solid var(--ok); background: var(--panel); padding: .5rem .75rem; margin: .5rem 0; }
form.inline { display: inline; }
form.filters { display: flex; gap: .5rem; flex-wrap: wrap; align-items: end; margin-bottom: .5rem; }
form.filters label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); }
input, select, button { font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
button { cursor: pointer; background: var(--panel); }
button.danger { color: var(--bad); }
button:disabled { opacity: .5; cursor: not-allowed; }
.muted { color: var(--muted); }
main dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0 1rem; }
main dt { color: var(--muted); }
main dd { margin: 0; }
.chart { min-height: 220px; }
.login { max-width: 22rem; margin: 4rem auto; display: flex; flex-direction: column; gap: .75rem; }
.login label { display: flex; flex-direction: column; gap: .25rem; }
.pager { display: flex; gap: 1rem; margin: .5rem 0; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
ul.warnings { list-style: none; padding: 0; margin: 0 0 1rem; }
figure { margin: .5rem 0; }
figcaption { color: var(--muted); }
code.payload { white-space: pre-wrap; word-break: break-word; }
abbr[title] { text-decoration: none; }
.card .value .unavailable, .card .value .muted { font-size: 1rem; font-weight: 400; }
`
