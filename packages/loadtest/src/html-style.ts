/** The report page's stylesheet (inline: the page's Content-Security-Policy allows inline styles only). */
export const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1f2937;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 20px 40px}
header{display:flex;justify-content:space-between;align-items:flex-start;gap:16px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:16px;margin:0 0 8px}
h3{font-size:14px;margin:12px 0 6px}
.sub{margin:0;color:#4b5563}
.cmd{margin:8px 0 16px}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#e5e7eb;padding:1px 5px;border-radius:4px;word-break:break-all}
.badge{display:inline-block;padding:6px 14px;border-radius:999px;font-weight:600;white-space:nowrap}
.badge.ok{background:#d1fae5;color:#065f46}
.badge.fail{background:#fee2e2;color:#991b1b}
.badge.none{background:#e5e7eb;color:#374151}
.compare-note{background:#eff6ff;border:1px solid #bfdbfe;border-radius:6px;padding:8px 12px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(108px,1fr));gap:10px;margin:0 0 16px}
.tile{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.tile .label{color:#6b7280;font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;white-space:nowrap}
.tile .value{font-size:19px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.tile .was{color:#6b7280;font-size:12px}
.tile.bad .value{color:#b91c1c}
.card{background:#fff;border-radius:8px;padding:16px 18px;margin:0 0 16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card svg{display:block;width:100%;height:auto}
.note{color:#4b5563;font-size:12.5px;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{font-size:12px;color:#4b5563;font-weight:600}
.n{text-align:right}
tr.ok td:last-child{color:#047857;font-weight:600}
tr.fail td:last-child{color:#b91c1c;font-weight:600}
.compare tr.ok td:last-child,.compare tr.fail td:last-child{font-weight:600}
.bad{color:#b91c1c;font-weight:600}
.warn{color:#b45309}
.bar{display:flex;height:12px;min-width:140px;background:#f3f4f6;border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%}
.key{display:inline-flex;align-items:center;gap:4px;margin-left:12px}
.key i{display:inline-block;width:10px;height:10px;border-radius:2px}
.options td:first-child{width:30%}
footer{color:#6b7280;font-size:12px;margin-top:8px}
`;
