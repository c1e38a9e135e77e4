"""A planted event log where item-item co-occurrence, not popularity, predicts the future."""

import numpy as np

from app.recommender.evaluation.split import Events

N_GROUPS, GROUP_SIZE, N_USERS = 12, 10, 240
TRAIN_PER_USER = 6


def planted_events(seed: int = 0) -> Events:
    """Each user belongs to one group of 10 items: 6 of them before t = 1000, the other 4 after.

    Groups are equally popular, so popularity cannot tell a user's group apart, while any item-item
    model sees that items of a group always co-occur.  40% of events are after the cut.
    """
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u in range(N_USERS):
        g = u % N_GROUPS
        order = rng.permutation(GROUP_SIZE) + g * GROUP_SIZE
        users += [u] * GROUP_SIZE
        items += order.tolist()
        ts += sorted(rng.integers(0, 1000, TRAIN_PER_USER).tolist())
        ts += sorted(rng.integers(1000, 2000, GROUP_SIZE - TRAIN_PER_USER).tolist())
    n = len(users)
    # A purchase-free log of views: the confidence weights are the service's, unchanged.
    return Events.from_arrays(
        np.array(users), np.array(items), np.zeros(n, np.int8), timestamps=np.array(ts)
    )
