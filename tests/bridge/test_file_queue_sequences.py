"""A file queue leaves the files that applying its batches one after the other leaves: over random sequences of
writes, appends, removals and calls (some failing: a file in a folder that does not exist), with or without a
limit, submitted one by one or as one block, the folder ends byte for byte as with ``FileBatch.apply`` in order,
up to and including the first failure and nothing after it, and that failure is raised."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.runs.file_queue import FileBatch, FileQueue

operation = st.tuples(st.sampled_from(["write", "append", "remove", "then"]), st.sampled_from(["a", "b", "c", "no-such-folder/d"]), st.binary(max_size=4))
batches = st.lists(st.lists(operation, max_size=4), max_size=6)


def batch(folder: Path, operations, calls: list[str]) -> FileBatch:
    out = FileBatch()
    for kind, name, data in operations:
        if kind == "write":
            out.write(folder / name, data)
        elif kind == "append":
            out.append(folder / name, data)
        elif kind == "remove":
            out.remove(folder / name)
        else:
            out.then(lambda name=name: calls.append(name))
    return out


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=batches, limit=st.none() | st.integers(1, 3), together=st.booleans())
def test_a_file_queue_leaves_the_files_of_its_batches_applied_in_order_up_to_the_first_failure(tmp_path_factory, sequence, limit, together):
    in_order, queued = tmp_path_factory.mktemp("in-order"), tmp_path_factory.mktemp("queued")
    order_calls, queue_calls, first_error = [], [], None
    for operations in sequence:
        try:
            batch(in_order, operations, order_calls).apply()
        except OSError as e:
            first_error = e
            break
    queue, raised = FileQueue(limit=limit), []
    try:
        if together:
            with queue.together():
                for operations in sequence:
                    queue.submit(batch(queued, operations, queue_calls))
        else:
            for operations in sequence:
                queue.submit(batch(queued, operations, queue_calls))
    except OSError as e:  # a later submit raises the failure of an earlier batch
        raised.append(e)
    try:
        queue.wait()
    except OSError as e:
        raised.append(e)
    finally:
        queue.close()
    assert files(queued) == files(in_order)
    assert queue_calls == order_calls
    assert [type(e) for e in raised[:1]] == ([type(first_error)] if first_error is not None else [])
    assert all(str(e) == str(first_error).replace(str(in_order), str(queued)) for e in raised)
