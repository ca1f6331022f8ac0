#!/usr/bin/python3
# bgnbd.py DB CALIBRATION_END_MS [UNIT_DAYS]: a second BG/NBD fit, in
# Python with Debian's scipy, of the orders in a jrn state file, for
# t/bench/retail.sh to hold jrn-score clv's against. The summaries as
# jrn-score(1) defines them: per customer, x = distinct UTC days with an
# order.completed (up to the calibration end) less one, t_x = first to last
# of those days, T = start of the first day to the calibration end, in
# units of UNIT_DAYS (7). The log-likelihood of Fader, Hardie and Lee
# (2005), "Counting your customers the easy way", eq. (6), maximised by
# scipy's Nelder-Mead over the parameters' logarithms from several starts.
# Prints one JSON line: {"r","alpha","a","b","logLikelihood","customers"}.
import json
import sqlite3
import sys

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

db, cal = sys.argv[1], int(sys.argv[2])
unit = (float(sys.argv[3]) if len(sys.argv) > 3 else 7.0) * 86400000.0
DAY = 86400000

con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
rows = con.execute(
    "SELECT customer_id, count(DISTINCT ts / ?1), min(ts / ?1), max(ts / ?1)"
    " FROM events WHERE type = 'order.completed' AND ts <= ?2"
    " AND typeof(amount) IN ('integer', 'real') GROUP BY customer_id",
    (DAY, cal)).fetchall()
x = np.array([r[1] - 1 for r in rows], dtype=float)
tx = np.array([(r[3] - r[2]) * DAY / unit for r in rows])
T = np.array([(cal - r[2] * DAY) / unit for r in rows])


def nll(logp):
    r, alpha, a, b = np.exp(logp)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(alpha + tx), -np.inf)
    return -np.sum(a1 + a2 + np.logaddexp(a3, a4))


best = None
for start in ([0.0, 0.0, 0.0, 0.0], [np.log(0.5), np.log(5), np.log(0.5), np.log(5)],
              [1.0, 3.0, -2.0, 0.0]):
    res = minimize(nll, start, method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 40000, "maxfev": 80000})
    res = minimize(nll, res.x, method="Nelder-Mead",
                   options={"xatol": 1e-12, "fatol": 1e-12, "maxiter": 40000, "maxfev": 80000})
    if best is None or res.fun < best.fun:
        best = res
r, alpha, a, b = np.exp(best.x)
print(json.dumps({"r": r, "alpha": alpha, "a": a, "b": b, "logLikelihood": -best.fun,
                  "customers": len(rows)}))
