#!/usr/bin/env node
// Starts dynalite with the options of its own cli.js, but keeps it running when a
// client disconnects in the middle of a request.
//
// dynalite 4.0.0 rethrows every error of a request stream
// (`req.on('error', function (err) { throw err })` in index.js), so a client that
// closes its connection early, such as a killed gunicorn worker or botocore giving
// up after its read timeout, ends the whole server. Here a request listener that
// runs before dynalite's own wraps the error listeners of each request, so an
// aborted request is logged and dropped while every other error still ends the
// process as before.

'use strict'

const argv = require('minimist')(process.argv.slice(2))
const dynalite = require('dynalite')

const ABORT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE'])

function isClientAbort (error) {
  return Boolean(error) && (ABORT_CODES.has(error.code) || error.message === 'aborted')
}

const server = dynalite(argv)

server.prependListener('request', function (req) {
  const on = req.on
  req.on = function (event, listener) {
    if (event !== 'error') return on.apply(this, arguments)
    return on.call(this, event, function (error) {
      if (isClientAbort(error)) {
        console.error('dynalite: client closed the connection mid-request (%s)', error.code || error.message)
        return
      }
      listener.call(this, error)
    })
  }
})

server.listen(argv.port || 4567, argv.host || undefined, function () {
  const address = server.address()
  console.log('Dynalite listening at: http://%s:%s', argv.host || 'localhost', address.port)
})
