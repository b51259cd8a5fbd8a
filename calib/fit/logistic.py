"""Weighted logistic regression by Newton's method, with an optional ridge penalty and a
cluster-robust (sandwich) covariance.

A decay profile needs dozens of fits of the same design with one column block changed;
this small solver warm-starts and stays in numpy. The unpenalised fit and its
cluster-robust covariance agree with ``statsmodels.GLM(..., family=Binomial())
.fit(cov_type="cluster")`` (see ``tests/test_fit.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from calib._numba import njit

__all__ = ["LogitFit", "fit_logit", "cluster_covariance", "gram"]


@dataclass(frozen=True)
class LogitFit:
    """Coefficients (intercept first), the weighted log-likelihood (without the
    penalty), the penalised Hessian and whether Newton's method converged."""

    coef: np.ndarray
    loglik: float
    hessian: np.ndarray
    converged: bool
    iterations: int


@njit(cache=True)
def _gram_kernel(X, w, out):
    n, k = X.shape
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        for a in range(k):
            xa = X[i, a] * wi
            if xa == 0.0:
                continue
            for b in range(a, k):
                out[a, b] += xa * X[i, b]
    for a in range(k):
        for b in range(a):
            out[a, b] = out[b, a]


@njit(cache=True)
def _matvec_kernel(X, b, out):
    n, k = X.shape
    for i in range(n):
        s = 0.0
        for a in range(k):
            s += X[i, a] * b[a]
        out[i] = s


@njit(cache=True)
def _rmatvec_kernel(X, v, out):
    n, k = X.shape
    for i in range(n):
        if v[i] != 0.0:  # rows of zero weight add nothing
            for a in range(k):
                out[a] += X[i, a] * v[i]


def _matvec(X: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X @ b`` in one compiled single-threaded pass (see :func:`gram`)."""
    out = np.empty(X.shape[0])
    _matvec_kernel(X, np.ascontiguousarray(b, dtype=np.float64), out)
    return out


def _rmatvec(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``X.T @ v`` in one compiled single-threaded pass (see :func:`gram`)."""
    out = np.zeros(X.shape[1])
    _rmatvec_kernel(X, np.ascontiguousarray(v, dtype=np.float64), out)
    return out


def gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``X.T @ diag(w) @ X`` in one compiled pass (multi-threaded BLAS is pathologically
    slow on tall, narrow matrices on a busy machine; this is not, and skips zeros).

    Examples
    --------
    >>> X = np.array([[1., 2.], [1., 0.], [1., 3.]])
    >>> gram(X, np.array([1., 0., 2.]))
    array([[ 3.,  8.],
           [ 8., 22.]])
    """
    out = np.zeros((X.shape[1], X.shape[1]))
    _gram_kernel(np.ascontiguousarray(X, dtype=np.float64),
                 np.ascontiguousarray(w, dtype=np.float64), out)
    return out


def _loglik(eta: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    # log p = -log(1 + exp(-eta)), log(1 - p) = -log(1 + exp(eta))
    return float(-(w * (y * np.logaddexp(0, -eta) + (1 - y) * np.logaddexp(0, eta))).sum())


def fit_logit(X: np.ndarray, y: np.ndarray, *, weight: np.ndarray | None = None,
              l2: float = 0.0, start: np.ndarray | None = None, max_iter: int = 50,
              tol: float = 1e-8, sd: np.ndarray | None = None) -> LogitFit:
    """Maximise ``sum_i w_i log L_i(beta) - l2/2 * sum_j (sd_j * beta_j)**2``.

    ``X`` holds the intercept in its first column (never penalised); the penalty acts on
    standardised columns (``sd_j`` is the column's standard deviation), so it means the
    same whatever a feature's unit. ``sd`` gives those scales when the caller has them
    (e.g. ``X`` restricted to its rows of non-zero weight, or several fits of one ``X``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=5000)
    >>> y = (rng.random(5000) < special.expit(-1 + 2 * x)).astype(float)
    >>> f = fit_logit(np.column_stack([np.ones(5000), x]), y)
    >>> np.round(f.coef, 1)
    array([-1.,  2.])
    """
    n, k = X.shape
    w = np.ones(n) if weight is None else np.asarray(weight, float)
    if sd is None:
        sd = X.std(axis=0)  # over every row, weighted or not: the penalty's scale
    keep = np.flatnonzero(w != 0)
    if len(keep) < 0.8 * n:
        # rows of weight zero add nothing to the likelihood, its gradient or Hessian:
        # Newton's method runs on the others alone (the same maximum, far fewer rows
        # when e.g. selective labels leave most examples untrusted)
        X, y, w = X[keep], np.asarray(y)[keep], w[keep]
    X = np.ascontiguousarray(X, dtype=np.float64)
    pen = l2 * sd ** 2
    pen[0] = 0.0
    beta = np.zeros(k) if start is None else np.array(start, float)
    if start is None:
        ybar = np.clip((w * y).sum() / w.sum(), 1e-6, 1 - 1e-6)
        beta[0] = np.log(ybar / (1 - ybar))
    eta = _matvec(X, beta)
    obj = _loglik(eta, y, w) - 0.5 * (pen * beta ** 2).sum()
    converged = False
    it = 0
    H = np.eye(k)
    for it in range(1, max_iter + 1):
        p = special.expit(eta)
        g = _rmatvec(X, w * (y - p)) - pen * beta
        H = gram(X, w * p * (1 - p)) + np.diag(pen)
        try:
            step = np.linalg.solve(H + 1e-10 * np.eye(k), g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        t = 1.0
        for _ in range(30):  # step halving keeps every iteration an ascent
            nb = beta + t * step
            ne = _matvec(X, nb)
            nobj = _loglik(ne, y, w) - 0.5 * (pen * nb ** 2).sum()
            if nobj >= obj - 1e-12 * abs(obj):
                break
            t /= 2
        done = np.max(np.abs(nb - beta)) < tol or abs(nobj - obj) < tol * (1 + abs(obj)) * 1e-3
        beta, eta, obj = nb, ne, nobj
        if done:
            converged = True
            break
    return LogitFit(coef=beta, loglik=_loglik(eta, y, w), hessian=H, converged=converged,
                    iterations=it)


def cluster_covariance(X: np.ndarray, y: np.ndarray, coef: np.ndarray, groups: np.ndarray,
                       weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Model-based and cluster-robust covariance of an (unpenalised) logistic fit.

    The robust one is ``B M B * G / (G - 1)`` with ``B`` the inverse Hessian and ``M`` the
    sum over clusters of the outer products of their score contributions (the
    small-sample factor statsmodels applies with ``use_correction=True`` for GLMs is
    ``G / (G - 1) * (n - 1) / (n - k)``; for the large ``n`` here the two agree).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(1000), rng.normal(size=1000)])
    >>> y = (rng.random(1000) < special.expit(X[:, 1])).astype(float)
    >>> B, V = cluster_covariance(X, y, fit_logit(X, y).coef, np.arange(1000) // 2)
    >>> B.shape, V.shape
    ((2, 2), (2, 2))
    """
    w = np.ones(len(y)) if weight is None else weight
    p = special.expit(X @ coef)
    H = gram(X, w * p * (1 - p))
    B = np.linalg.pinv(H)
    u = X * (w * (y - p))[:, None]
    _, inv = np.unique(groups, return_inverse=True)
    G = inv.max() + 1
    U = np.column_stack([np.bincount(inv, weights=u[:, j], minlength=G)
                         for j in range(X.shape[1])])
    M = U.T @ U
    n, k = X.shape
    factor = G / (G - 1) * (n - 1) / (n - k) if G > 1 and n > k else 1.0
    return B, factor * B @ M @ B
