"""The workbench's punch-in actions: re-render the current take from a point on a worker, and
hand a knob change to the take that is streaming (engine: musae_core.workstation.punch)."""

from __future__ import annotations

from musae_core.workstation.punch import change_live, punch_take
from musae_core.workstation.takes import TakeRecord


def change_live_take(bench) -> bool:
    """While the steered take streams, a knob change lands at its next chunk (no restart);
    False when nothing steered is streaming (the caller renders again as before)."""
    if bench.streaming is None or not change_live(bench.session, bench.mixer, bench.master):
        return False
    bench.status.emit("Live: the change lands at the next chunk of the take that is playing.")
    return True


def start_punch(bench, seconds: float):
    """Punch into the current take at ``seconds`` with the current mixer: a new take, the same
    as its parent before the point. Returns the job (None when there is nothing to punch)."""
    parent, session, mixer = bench.current_take, bench.session, bench.mixer
    if parent is None or not parent.loaded or not bench.can_render():
        bench.error.emit("There is no rendered take to punch into.", "press Render first.")
        return None
    bench.renderingChanged.emit(True)

    def done(take: TakeRecord) -> None:
        bench.renderingChanged.emit(False)
        bench.dirty = True
        bench.takesChanged.emit()
        bench.set_current_take(take)
        bench.status.emit(f"Punched into take {parent.take_id} at {take.punch_seconds:.2f} s")

    def failed(problem: str, fix: str) -> None:
        bench.renderingChanged.emit(False)
        bench.error.emit(problem, fix)

    def work(progress, cancel) -> TakeRecord:
        return punch_take(session, parent, seconds, mixer, progress, cancel)

    return bench.jobs.start("render", "Punching in", work, done, failed)
