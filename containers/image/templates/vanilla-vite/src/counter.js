export function setupCounter(element) {
  let count = 0
  const render = () => {
    element.textContent = `Clicked ${count} ${count === 1 ? 'time' : 'times'}`
  }
  element.addEventListener('click', () => {
    count += 1
    render()
  })
  render()
}
