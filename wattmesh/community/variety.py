"""Seeded variety for load profiles, so that members built from a few shared shapes do not move in lockstep."""

from __future__ import annotations

import numpy as np
import pandas as pd


def load_variety(
    load_kw: np.ndarray,
    shift_max_intervals: int,
    scale_sigma: float,
    noise_sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each column of ``load_kw`` (T, M) shifted in time, rescaled and given multiplicative noise.

    Parameters
    ----------
    load_kw : (T, M) load profiles [kW]
    shift_max_intervals : each column is rotated by a whole number of intervals drawn uniformly from
        [-shift_max_intervals, shift_max_intervals] (habits differ by up to that much)
    scale_sigma : each column is multiplied by a log-normal factor exp(N(0, sigma^2) - sigma^2/2), whose
        mean is 1, so that homes differ in size but the community's expected total is kept
    noise_sigma : each value is multiplied by max(0, 1 + N(0, noise_sigma^2))

    Returns
    -------
    (T, M) varied load [kW], never negative.
    """
    n_intervals, n_members = load_kw.shape
    shifts = rng.integers(-shift_max_intervals, shift_max_intervals + 1, size=n_members)
    scale = np.exp(rng.normal(0.0, scale_sigma, n_members) - scale_sigma**2 / 2)
    out = np.empty_like(load_kw, dtype=float)
    # Few distinct shifts: roll each group of columns at once rather than gathering every element.
    for shift in np.unique(shifts):
        columns = shifts == shift
        out[:, columns] = np.roll(load_kw[:, columns], shift, axis=0) * scale[columns]
    noise = rng.standard_normal((n_intervals, n_members), dtype=np.float32)
    noise *= noise_sigma
    noise += 1.0
    np.maximum(noise, 0.0, out=noise)
    out *= noise
    return np.maximum(out, 0.0, out=out)


def replicate_community(community, n_members: int, rng: np.random.Generator, noise_sigma: float = 0.1):
    """A community of ``n_members`` members drawn (with replacement) from ``community``'s own members.

    Each copy keeps its original's assets, EV sessions and generation, and gets its load re-varied
    (time shift of up to an hour, multiplicative noise), so that copies do not move in lockstep. Members
    of kind ``community`` (the community battery) are kept once, with capacity and power scaled by the
    growth factor. Used to study how results and run time scale with community size.
    """
    from wattmesh.community.model import Community

    members = community.members
    shared = (members["kind"] == "community").to_numpy()
    pool = np.flatnonzero(~shared)
    picks = rng.choice(pool, size=n_members, replace=True)
    growth = n_members / len(pool)
    new_ids = np.array([f"m{i:05d}_{members['member_id'].iloc[p]}" for i, p in enumerate(picks)])
    keep = np.concatenate([picks, np.flatnonzero(shared)])
    ids = np.concatenate([new_ids, members["member_id"].to_numpy()[shared]])
    new_members = members.iloc[keep].reset_index(drop=True).assign(member_id=ids)

    source_of_new = pd.Series(members["member_id"].to_numpy()[keep], index=ids)
    assets = community.assets.merge(
        pd.DataFrame({"member_id": source_of_new.to_numpy(), "new_member_id": source_of_new.index}),
        on="member_id",
    )
    scale = np.where(assets["member_id"].isin(members.loc[shared, "member_id"]), growth, 1.0)
    assets = assets.assign(
        asset_id=assets["asset_id"] + "@" + assets["new_member_id"],
        member_id=assets["new_member_id"],
        capacity_kwh=assets["capacity_kwh"] * scale,
        power_kw=assets["power_kw"] * scale,
    ).drop(columns="new_member_id")
    sessions = community.ev_sessions.merge(
        pd.DataFrame({"member_id": source_of_new.to_numpy(), "new_member_id": source_of_new.index}),
        on="member_id",
    )
    sessions = sessions.assign(
        session_id=sessions["session_id"] + "@" + sessions["new_member_id"],
        asset_id=sessions["asset_id"] + "@" + sessions["new_member_id"],
        member_id=sessions["new_member_id"],
    ).drop(columns="new_member_id")
    load = load_variety(community.load_kw[:, keep], 4, 0.0, noise_sigma, rng)
    return Community(
        members=new_members,
        assets=assets,
        ev_sessions=sessions,
        index=community.index,
        load_kw=load,
        generation_kw=community.generation_kw[:, keep],
        retail_per_kwh=community.retail_per_kwh,
        feed_in_per_kwh=community.feed_in_per_kwh,
        local_fee_per_kwh=community.local_fee_per_kwh,
        carbon_kg_per_kwh=community.carbon_kg_per_kwh,
        currency=community.currency,
        name=f"{community.name} x{growth:.1f}",
        meta=dict(community.meta),
    )
