package providers

import (
	"context"
	"errors"
	"io"
)

// Stream delivers one model turn event by event:
//
//	s, err := p.Stream(ctx, req)
//	if err != nil { … }
//	defer s.Close()
//	for s.Next() {
//		ev := s.Event()
//		…
//	}
//	if err := s.Err(); err != nil { … }
//
// A stream that ends without error has delivered EventFinish last. A Stream
// is not safe for concurrent use.
type Stream struct {
	p   *Provider
	ctx context.Context // the caller's, to tell their cancellation from ours
	a   *attempt
	dec decoder

	maxBytes int64 // Request.MaxBytes
	size     int64 // bytes of text and tool arguments decoded so far

	pending   []Event
	cur       Event
	err       error
	queued    bool // some event was decoded
	delivered bool // some event reached the caller
	finished  bool // EventFinish is queued; nothing more to read
	closed    bool
}

// open makes one try: it starts the turn and reads until the first event, so
// that anything going wrong before the caller has seen a byte can be retried.
func (p *Provider) open(ctx context.Context, req Request) (*Stream, error) {
	actx, a := p.startAttempt(ctx)
	a.maxBytes = req.MaxBytes
	dec, err := p.backend.stream(actx, req)
	if err != nil {
		a.end()
		return nil, p.classify(ctx, a, err)
	}
	s := &Stream{p: p, ctx: ctx, a: a, dec: dec, maxBytes: req.MaxBytes}
	if !s.fill() {
		s.Close()
		if s.err == nil {
			return nil, p.unreadable()
		}
		return nil, s.err
	}
	return s, nil
}

// Next advances to the next event. It returns false when the turn is over or
// has failed; Err tells which.
func (s *Stream) Next() bool {
	if s.err == nil && s.ctx.Err() != nil {
		s.fail(s.ctx.Err())
	}
	if s.err != nil || (len(s.pending) == 0 && !s.fill()) {
		s.Close()
		return false
	}
	s.cur, s.pending = s.pending[0], s.pending[1:]
	s.delivered = true
	return true
}

// Event is the event Next moved to.
func (s *Stream) Event() Event { return s.cur }

// Err is why the stream ended early: an *Error (errors.Is ErrInterrupted once
// part of the answer was delivered), or the caller's context error.
func (s *Stream) Err() error { return s.err }

// Size is how many bytes of text and tool arguments the turn has streamed
// so far, including any that passed Request.MaxBytes and were not
// delivered.
func (s *Stream) Size() int64 { return s.size + s.dec.argBytes() }

// Close releases the connection. It is safe to call more than once.
func (s *Stream) Close() error {
	if !s.closed {
		s.closed = true
		s.dec.close()
		s.a.end()
	}
	return nil
}

// fill reads from the provider until an event is pending. It returns false
// at the end of the turn, with s.err set if the turn failed.
func (s *Stream) fill() bool {
	for len(s.pending) == 0 {
		if s.finished || s.err != nil || s.closed {
			return false
		}
		s.a.touch()
		s.a.newMessage()
		events, err := s.dec.next()
		s.a.pause()
		switch {
		case errors.Is(err, io.EOF):
			s.endedEarly()
			return false
		case err != nil:
			s.fail(err)
			return false
		}
		if s.overCap(events) {
			s.Close() // stop reading now: nothing more is wanted
			s.err = s.p.tooLong(s.maxBytes)
			return false
		}
		for _, ev := range events {
			s.finished = s.finished || ev.Kind == EventFinish
		}
		s.pending = append(s.pending, events...)
		s.queued = s.queued || len(events) > 0
	}
	return true
}

// overCap adds the text of events and the tool arguments the decoder has
// taken in to the answer's size and reports whether it passed MaxBytes.
// Arguments are counted as they arrive, not when their call is complete,
// so a call that never ends is stopped too.
func (s *Stream) overCap(events []Event) bool {
	for _, ev := range events {
		s.size += int64(len(ev.Text))
	}
	return s.maxBytes > 0 && s.size+s.dec.argBytes() > s.maxBytes
}

// endedEarly handles a stream that closed without EventFinish.
func (s *Stream) endedEarly() {
	if !s.queued {
		s.err = s.p.unreadable()
		return
	}
	s.fail(&Error{Provider: s.p.name, msg: s.p.name + " closed the stream without finishing"})
}

func (s *Stream) fail(err error) {
	err = s.p.classify(s.ctx, s.a, err)
	var perr *Error
	if s.delivered && errors.As(err, &perr) {
		err = s.p.interrupted(perr)
	}
	s.err = err
}
