import './style.css'
import { setupCounter } from './counter.js'

document.querySelector('#app').innerHTML = `
  <main>
    <h1>Hello from Vite</h1>
    <p>Edit <code>src/main.js</code> and save to see it update.</p>
    <button id="counter" type="button"></button>
  </main>
`

setupCounter(document.querySelector('#counter'))
