"""PoseTracker: ids survive a missed frame, slow crossings do not swap, gating, smoothing,
track confirmation and the merging of tracks on one person."""
import numpy as np

from deploy.python.smoothing import KeypointSmoother
from deploy.python.tracker import PoseTracker, box_iou, keypoint_oks

SIGMAS = [0.05] * 4


def _person(cx: float, cy: float, offsets: np.ndarray) -> tuple:
    box = np.array([cx - 20, cy - 40, cx + 20, cy + 40])
    kpts = np.concatenate([offsets + [cx, cy], np.ones((len(offsets), 1))], axis=1)
    return box, kpts


SHAPE_A = np.array([[0.0, -30.0], [-10.0, 0.0], [10.0, 0.0], [0.0, 30.0]])
SHAPE_B = np.array([[0.0, -20.0], [-15.0, 10.0], [15.0, 10.0], [0.0, 35.0]])


def _frame(people):
    boxes, kpts = zip(*[_person(cx, cy, shape) for cx, cy, shape in people])
    return np.stack(boxes), np.stack(kpts)


def test_box_iou() -> None:
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou, [[1.0, 1 / 3, 0.0]])


def test_keypoint_oks_scale_is_the_second_area_and_threshold_inclusive() -> None:
    a = np.array([[[0.0, 0.0, 0.3], [0.0, 0.0, 0.9]]])
    b = np.array([[[3.0, 4.0, 0.9], [0.0, 0.0, 0.2]], [[3.0, 4.0, 0.9], [0.0, 0.0, 0.9]]])
    oks, valid = keypoint_oks(a, b, np.array([100.0, 0.25]), [0.1, 0.1], 0.3)
    # pair 0: only joint 0 counts (score 0.3 reaches the threshold); pair 1: area floored to 1
    near = np.exp(-25 / (2 * 100.0 * 0.2 ** 2))
    floored = np.mean([np.exp(-25 / (2 * 1.0 * 0.2 ** 2)), 1.0])
    np.testing.assert_allclose(oks, [[near, floored]])
    assert valid.tolist() == [[True, True]]
    oks, valid = keypoint_oks(a, b, np.array([100.0, 0.25]), [0.1, 0.1], 0.95)
    assert not valid.any() and not oks.any()


def test_ids_survive_a_missed_detection() -> None:
    tracker = PoseTracker(SIGMAS, max_age=3)
    ids = [tracker.update(*_frame([(100 + 2 * t, 100, SHAPE_A), (300, 100, SHAPE_B)]))[0]
           for t in range(3)]
    missing, _ = tracker.update(*_frame([(300, 100, SHAPE_B)]))  # A not detected
    back, _ = tracker.update(*_frame([(108, 100, SHAPE_A), (300, 100, SHAPE_B)]))
    assert all(list(i) == [0, 1] for i in ids)
    assert list(missing) == [1] and list(back) == [0, 1]


def test_tracks_expire_after_max_age_and_new_ids_are_fresh() -> None:
    tracker = PoseTracker(SIGMAS, max_age=1)
    tracker.update(*_frame([(100, 100, SHAPE_A)]))
    for _ in range(2):
        tracker.update(np.zeros((0, 4)), np.zeros((0, 4, 3)))
    ids, _ = tracker.update(*_frame([(100, 100, SHAPE_A)]))
    assert list(ids) == [1]


def test_slow_crossing_keeps_ids() -> None:
    tracker = PoseTracker(SIGMAS, max_age=2)
    history = []
    for t in range(40):  # A walks right, B walks left, 3 px/frame; they overlap mid-way
        people = [(100 + 3 * t, 100, SHAPE_A), (217 - 3 * t, 104, SHAPE_B)]
        order = [1, 0] if t % 2 else [0, 1]  # detector order must not matter
        ids, _ = tracker.update(*_frame([people[i] for i in order]))
        history.append(dict(zip(order, ids.tolist())))
    assert all(h == {0: 0, 1: 1} for h in history)


def test_far_jump_is_gated_into_a_new_track() -> None:
    tracker = PoseTracker(SIGMAS, max_cost=0.8)
    tracker.update(*_frame([(100, 100, SHAPE_A)]))
    ids, _ = tracker.update(*_frame([(400, 300, SHAPE_A)]))
    assert list(ids) == [1]


def test_every_person_gets_its_own_smoother() -> None:
    tracker = PoseTracker(SIGMAS, smoother_factory=lambda: KeypointSmoother(
        4, 'EMA', alpha=0.5, score_thresholds=0.0))
    tracker.update(*_frame([(100, 100, SHAPE_A), (300, 100, SHAPE_B)]))
    _, smoothed = tracker.update(*_frame([(104, 100, SHAPE_A), (296, 100, SHAPE_B)]))
    np.testing.assert_allclose(smoothed[0, :, 0] - SHAPE_A[:, 0], 102.0, atol=1e-4)
    np.testing.assert_allclose(smoothed[1, :, 0] - SHAPE_B[:, 0], 298.0, atol=1e-4)
    assert len({id(t.smoother) for t in tracker.tracks}) == 2


def _reported(tracker: PoseTracker, people) -> list:
    """The sorted reported ids of one frame of ``people`` ((cx, cy, shape) each)."""
    frame = tracker.track_frame(*(_frame(people) if people else
                                  (np.zeros((0, 4)), np.zeros((0, 4, 3)))))
    return sorted(frame.ids[frame.reported].tolist())


def test_defaults_report_every_detection_at_once() -> None:
    tracker = PoseTracker(SIGMAS)
    assert (tracker.confirm_frames, tracker.merge_frames) == (1, 0)
    twins = [(100, 100, SHAPE_A), (101, 100, SHAPE_A)]  # one person detected twice
    for _ in range(6):
        frame = tracker.track_frame(*_frame(twins))
        assert frame.reported.all() and not frame.duplicate.any()
    assert sorted(frame.ids.tolist()) == [0, 1]


def test_one_frame_spurious_detection_is_never_reported() -> None:
    tracker = PoseTracker(SIGMAS, confirm_frames=3)
    reported = []
    for t in range(8):
        people = [(100 + t, 100, SHAPE_A)]
        if t == 3:
            people.append((300, 200, SHAPE_B))  # a spurious box, this frame only
        if t % 2:
            people.append((400, 100, SHAPE_B))  # flickers: its track dies at every miss
        reported.append(_reported(tracker, people))
    assert reported == [[], [], [0], [0], [0], [0], [0], [0]]
    assert [t.track_id for t in tracker.tracks if t.confirmed] == [0]


def test_real_person_is_reported_from_frame_m_on_and_keeps_its_id() -> None:
    for confirm in (1, 2, 4):
        tracker = PoseTracker(SIGMAS, confirm_frames=confirm, max_age=2)
        reported = [_reported(tracker, [(100 + 2 * t, 100, SHAPE_A)]) for t in range(6)]
        assert reported == [[]] * (confirm - 1) + [[0]] * (7 - confirm)
        # a confirmed track survives misses as before
        assert _reported(tracker, []) == []
        assert _reported(tracker, [(116, 100, SHAPE_A)]) == [0]


def test_tentative_track_dies_at_its_first_miss() -> None:
    tracker = PoseTracker(SIGMAS, confirm_frames=3, max_age=5)
    person = [(100, 100, SHAPE_A)]
    assert [_reported(tracker, p) for p in (person, person, [])] == [[], [], []]
    assert [_reported(tracker, person) for _ in range(3)] == [[], [], [1]]


def test_two_tracks_on_one_person_merge_into_the_older_id() -> None:
    tracker = PoseTracker(SIGMAS, merge_frames=3)
    history = []
    for t in range(8):
        people = [(100 + t, 100, SHAPE_A)]
        if t >= 2:
            people.append((102 + t, 101, SHAPE_A))  # a duplicate box from frame 2 on
        frame = tracker.track_frame(*_frame(people))
        history.append((sorted(frame.ids[frame.reported].tolist()), frame.duplicate.tolist()))
    assert history[:4] == [([0], [False]), ([0], [False]), ([0, 1], [False, False]),
                           ([0, 1], [False, False])]
    assert history[4] == ([0], [False, True])  # third overlapping frame: 1 merges into 0
    # after the merge the duplicate starts a new track, which merges again 3 frames later
    assert [h[0] for h in history[5:]] == [[0, 2], [0, 2], [0]]
    assert [t.track_id for t in tracker.tracks] == [0]


def test_confirmation_and_merging_together_never_report_a_lasting_duplicate() -> None:
    tracker = PoseTracker(SIGMAS, confirm_frames=3, merge_frames=3)
    reported = []
    for t in range(10):
        twins = [(100 + t, 100, SHAPE_A), (102 + t, 101, SHAPE_A)]
        reported.append(_reported(tracker, twins))
    assert reported == [[], []] + [[0]] * 8


def test_overlap_by_pose_alone_merges_and_a_frame_apart_resets_the_count() -> None:
    tracker = PoseTracker(SIGMAS, merge_frames=2, merge_iou=0.99, merge_oks=0.7)
    box, kpts = _person(100, 100, SHAPE_A)
    wide = np.array([60.0, 40.0, 140.0, 160.0])  # the same pose in a larger box: IoU 0.33
    for t, apart in enumerate([False, True, False, False]):
        shift = 10.0 if apart else 0.0  # both matched, the second 10 px aside (OKS 0.46)
        moved = kpts + [shift, 0.0, 0.0]
        frame = tracker.track_frame(np.stack([box, wide + [shift, 0, shift, 0]]),
                                    np.stack([kpts, moved]))
        assert frame.ids.tolist() == [0, 0 if t == 3 else 1]
        assert frame.duplicate.tolist() == [False, t == 3]  # merged on the 2nd frame in a row
    assert len(tracker.tracks) == 1
