import { useState } from 'react'

export default function App() {
  const [count, setCount] = useState(0)

  return (
    <main className="mx-auto flex min-h-screen max-w-xl flex-col items-center justify-center gap-6 p-8 text-center">
      <h1 className="text-4xl font-bold tracking-tight">Hello from React</h1>
      <p className="text-slate-600">
        Edit <code className="rounded bg-slate-100 px-1">src/App.tsx</code> and save to see it update.
      </p>
      <button
        className="rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-500"
        onClick={() => setCount((n) => n + 1)}
      >
        Clicked {count} {count === 1 ? 'time' : 'times'}
      </button>
    </main>
  )
}
