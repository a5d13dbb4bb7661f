import '@xterm/xterm/css/xterm.css'
import 'uplot/dist/uPlot.min.css'
import './style.css'
import { apiKey } from './api.ts'
import { renderDashboard } from './dashboard-page.ts'
import { renderSignIn } from './sign-in.ts'
import { renderTerminal } from './terminal-page.ts'

// Routes live in the hash (#/terminal, #/terminal/<session id>, #/dashboard), so the gateway
// serves one static page. The API key is never part of a route.
const main = document.getElementById('main')!
const nav = document.getElementById('nav')!
let dispose: (() => void) | undefined

function route(): void {
  dispose?.()
  dispose = undefined
  main.replaceChildren()
  const [page = '', arg] = location.hash.replace(/^#\/?/, '').split('/')
  const signedIn = apiKey.get() !== null
  nav.hidden = !signedIn
  if (!signedIn) {
    document.title = 'Sign in · Infra Lab'
    dispose = renderSignIn(main, route)
    return
  }
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.page === (page || 'terminal')) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  if (page === 'dashboard') {
    document.title = 'Dashboard · Infra Lab'
    dispose = renderDashboard(main)
  } else {
    document.title = 'Terminal · Infra Lab'
    dispose = renderTerminal(main, arg ? decodeURIComponent(arg) : undefined)
  }
}

document.getElementById('sign-out')!.addEventListener('click', () => {
  apiKey.clear()
  location.hash = '#/'
  route()
})
window.addEventListener('hashchange', route)
route()
