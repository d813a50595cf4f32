// mmbench's launcher of dynalite (see bench/engines/dynamodb.py): dynalite's own server with the same
// options as its cli.js (--host, --port, --path, --createTableMs ...), plus LevelDB compactions.
//
// Why: dynalite deletes a table by deleting its keys, and LevelDB keeps a tombstone per deleted key
// until a compaction reaches the bottom level. Every mmbench load replaces whole tables (a new
// generation, then the old one deleted), so tombstones pile up by the hundred thousand; a Query whose
// key range is followed by them walks them all (measured: 4.4 ms instead of 1.6 ms per Query after a
// few dozen loads), and DeleteTable and ListTables, which iterate the whole store, take seconds.
// So: once at start, and again a second after each DeleteTable, the deleted table's key ranges are
// compacted (in LevelDB's background thread; the event loop keeps serving). That keeps key lookups
// fast; it does not give all the disk space back while dynalite runs (LevelDB keeps what an open
// iterator may still see and leaves its deepest level alone: 2 GB after a conformance run here). The
// compaction at start does: `mmbench down dynamodb && mmbench up dynamodb` took 2.4 GB back to 0.26 GB.
'use strict'

const level = require('level')
const argv = require('minimist')(process.argv.slice(2))

let store = null
class CompactedLevel extends level.Level {
  constructor (...args) {
    super(...args)
    store = this // the one store dynalite opens (the launcher needs it to compact)
  }
}
level.Level = CompactedLevel // before dynalite reads it
const dynalite = require('dynalite')

const pending = new Set()
let timer = null

function compact (ranges) {
  if (!store || store.status !== 'open') return
  ranges.reduce((done, [start, end]) => done.then(() => store.compactRange(start, end)), Promise.resolve())
    .catch(err => console.error(`mmbench: compaction failed: ${err.message}`))
}

function compactLater (table) {
  pending.add(table)
  if (timer) return // due within a second already: a stream of deletes must not postpone it forever
  timer = setTimeout(() => {
    timer = null
    const ranges = []
    for (const name of pending) {
      for (const prefix of [ `item-${name}~`, `index-global~${name}~`, `index-local~${name}~`, `tag-${name}~` ]) {
        ranges.push([ prefix, `${prefix}\xff` ])
      }
    }
    pending.clear()
    compact(ranges)
  }, 1000)
}

const server = dynalite(argv)
server.on('request', (req, res) => {
  if (!String(req.headers['x-amz-target'] || '').endsWith('.DeleteTable')) return
  const chunks = []
  req.on('data', chunk => chunks.push(chunk))
  res.on('finish', () => {
    if (res.statusCode !== 200) return
    try {
      compactLater(JSON.parse(Buffer.concat(chunks).toString('utf8')).TableName)
    }
    catch (err) {
      console.error(`mmbench: no table name in a DeleteTable request: ${err.message}`)
    }
  })
})
server.listen(argv.port || 4567, argv.host || undefined, () => {
  const address = server.address()
  console.log('Dynalite listening at: http://%s:%s (mmbench launcher: compactions after DeleteTable)',
    argv.host || 'localhost', address.port)
  setTimeout(() => compact([ [ '\x00', '\xff' ] ]), 2000) // what earlier runs left behind
})

process.on('SIGTERM', () => server.close(() => process.exit(0)))
process.on('SIGINT', () => server.close(() => process.exit(0)))
