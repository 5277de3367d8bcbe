package agents

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
)

// Cancel stops a running run, on whichever replica runs it.
func (s *Service) Cancel(ctx context.Context, user, id uuid.UUID) (db.AgentRun, error) {
	row, err := s.Get(ctx, user, id)
	if err != nil {
		return row, err
	}
	if row.Status.Done() {
		return row, ErrRunEnded
	}
	// The request is stored, so a replica that misses the notification
	// still sees it at its next heartbeat.
	if row, err = s.q.RequestCancel(ctx, id); errors.Is(err, pgx.ErrNoRows) {
		return row, ErrRunEnded
	} else if err != nil {
		return row, err
	}
	if r := s.live(id); r != nil {
		r.cancel(errCancelled)
	} else {
		s.bus.Publish(ctx, cancelTopic(id))
	}
	return row, nil
}

func (s *Service) live(id uuid.UUID) *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

func (s *Service) liveIDs() []uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uuid.UUID, 0, len(s.runs))
	for id := range s.runs {
		ids = append(ids, id)
	}
	return ids
}

// heartbeatEvery is how often this process says its runs are alive; a run
// silent for staleAfter is ended by any replica.
const (
	heartbeatEvery = 10 * time.Second
	staleAfter     = 45 * time.Second
)

// Run beats the heartbeat of this process's runs and ends runs whose
// process is gone, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		s.ReapStale(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.heartbeat(ctx)
	}
}

// heartbeat says this process's runs are alive, and stops those that were
// asked to stop or were ended by another replica meanwhile.
func (s *Service) heartbeat(ctx context.Context) {
	ids := s.liveIDs()
	if len(ids) == 0 {
		return
	}
	rows, err := s.q.HeartbeatRuns(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("run heartbeat", "err", err)
		}
		return
	}
	running := map[uuid.UUID]bool{}
	for _, row := range rows {
		running[row.ID] = true
		if r := s.live(row.ID); r != nil && row.CancelRequested {
			r.cancel(errCancelled)
		}
	}
	for _, id := range ids {
		if r := s.live(id); r != nil && !running[id] {
			r.cancel(errEndedElsewhere)
		}
	}
}

// ReapStale ends runs nobody runs any more, with a done event so their
// followers stop waiting. Run calls it every few seconds.
func (s *Service) ReapStale(ctx context.Context) {
	stale, err := s.q.ListStaleRuns(ctx, db.ListStaleRunsParams{
		StaleBefore: time.Now().Add(-staleAfter), Sole: s.opts.SoleInstance, Started: s.started, Live: s.liveIDs(),
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("list stale runs", "err", err)
		}
		return
	}
	for _, row := range stale {
		if s.live(row.ID) != nil {
			continue
		}
		ended, err := s.q.AbandonRun(ctx, db.AbandonRunParams{ID: row.ID, Error: errRunnerStopped.Error()})
		if err != nil {
			continue // ended meanwhile
		}
		if _, err := s.q.GetRunDoneSeq(ctx, row.ID); err == nil {
			continue // its done event is stored; only the row had not been ended
		}
		last, err := s.q.LastRunEventSeq(ctx, row.ID)
		if err != nil {
			continue
		}
		l := newRunLogAfter(s, row.ID, last)
		l.emit(KindStatus, StatusEvent{Status: db.RunStatusFailed})
		l.emit(KindDone, doneEvent(ended))
		s.store(ctx, l)
		s.log.Info("ended an abandoned run", "run", row.ID)
	}
}
