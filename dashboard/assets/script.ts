/**
 * The dashboard's script (no framework, no eval; it runs under the page's Content-Security-Policy):
 *
 * - htmx requests carry the page's CSRF token as `X-CSRF-Token` (from `<meta name="csrf-token">`);
 * - `[data-live]` elements subscribe to a server-sent event stream and swap each `message` event's
 *   data (HTML the server rendered and escaped) into themselves;
 * - `[data-chart]` elements draw their JSON series with uPlot (x: unix seconds; then one series each);
 * - `form[data-confirm]` asks before it submits.
 */
export const DASHBOARD_SCRIPT = `
(function () {
  'use strict'
  var meta = document.querySelector('meta[name="csrf-token"]')
  var token = meta ? meta.getAttribute('content') : ''
  document.addEventListener('htmx:configRequest', function (event) {
    event.detail.headers['X-CSRF-Token'] = token
  })
  document.addEventListener('submit', function (event) {
    var form = event.target
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault()
    }
  })
  function live(root) {
    root.querySelectorAll('[data-live]').forEach(function (el) {
      if (el.__pulseLive) return
      var source = new EventSource(el.getAttribute('data-live'))
      el.__pulseLive = source
      source.onmessage = function (event) {
        el.innerHTML = event.data
        charts(el)
      }
    })
  }
  function charts(root) {
    if (typeof uPlot === 'undefined') return
    root.querySelectorAll('[data-chart]').forEach(function (el) {
      var spec = JSON.parse(el.getAttribute('data-chart'))
      el.textContent = ''
      var styles = getComputedStyle(document.documentElement)
      var colours = ['--ok', '--warn', '--bad', '--accent'].map(function (name) { return styles.getPropertyValue(name).trim() })
      var series = [{}].concat(spec.series.map(function (name, i) {
        return { label: name, stroke: colours[i % colours.length], width: 2 }
      }))
      new uPlot({ width: Math.max(320, el.clientWidth || 640), height: 220, series: series,
        axes: [{ stroke: styles.getPropertyValue('--muted') }, { stroke: styles.getPropertyValue('--muted') }] },
        spec.data, el)
    })
  }
  function ready() {
    live(document)
    charts(document)
  }
  document.addEventListener('htmx:afterSettle', function (event) { live(event.target); charts(event.target) })
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', ready)
  else ready()
  window.addEventListener('pagehide', function () {
    document.querySelectorAll('[data-live]').forEach(function (el) { if (el.__pulseLive) el.__pulseLive.close() })
  })
})()
`
