#!/usr/bin/python3
"""Extract R forecast::ets reference fits shipped with python3-statsmodels.

    cd tests/unit/forecast/data && /usr/bin/python3 make_ets_reference.py

statsmodels keeps, as test data, fits that R's forecast::ets made of the fpp2
data sets `oildata` (non-seasonal) and `austourists` (quarterly), with the
parameters, initial states and the whole state trajectory
(statsmodels/tsa/tests/results/fit_ets_results_{seasonal,nonseasonal}.json,
data in statsmodels/tsa/tests/test_exponential_smoothing.py). This writes the
models whose state equations coincide with ours (additive or no season, see
docs/forecasting.md) as

  ets_data.csv    series,t,value
  ets_fits.csv    series,model,damped,alpha,beta,gamma,phi,m
  ets_states.csv  series,model,damped,t,level,trend,season,fitted
                  (t = 0 is the initial state; season is the factor used at t)
"""
import ast
import json
import pathlib

import statsmodels.tsa.tests as tsa_tests

root = pathlib.Path(tsa_tests.__file__).parent
src = (root / "test_exponential_smoothing.py").read_text()
tree = ast.parse(src)


def data_of(fn_name):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == fn_name:
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and stmt.targets[0].id == "data":
                    return [float(v) for v in ast.literal_eval(stmt.value)]
    raise SystemExit(f"no data in {fn_name}")


sets = {
    "oildata": (data_of("oildata"), "fit_ets_results_nonseasonal.json", 1),
    "austourists": (data_of("austourists"), "fit_ets_results_seasonal.json", 4),
}

with open("ets_data.csv", "w") as f:
    f.write("series,t,value\n")
    for name, (data, _, _) in sets.items():
        for t, v in enumerate(data, 1):
            f.write(f"{name},{t},{v!r}\n")

fits = open("ets_fits.csv", "w")
fits.write("series,model,damped,alpha,beta,gamma,phi,m\n")
states = open("ets_states.csv", "w")
states.write("series,model,damped,t,level,trend,season,fitted\n")
for name, (data, fname, m) in sets.items():
    res = json.loads((root / "results" / fname).read_text())
    for damped, models in res.items():
        for model, r in models.items():
            # Multiplicative season (different seasonal update) and multiplicative
            # trend (not one of our models) are left out.
            if not r or model[2] == "M" or model[1] == "M":
                continue
            has_trend = model[1] != "N"
            seasonal = model[2] != "N"
            val = lambda k: float(r[k][0]) if r.get(k) and r[k][0] is not None else float("nan")
            fits.write(f"{name},{model},{damped},{val('alpha')!r},{val('beta')!r},{val('gamma')!r},"
                       f"{val('phi')!r},{m if seasonal else 1}\n")
            st = r["states"]
            fitted = r["fitted"]
            for t, row in enumerate(st):
                row = row if isinstance(row, list) else [row]
                level = row[0]
                trend = row[1] if has_trend else 0.0
                # R's state row: l, b, s[t], s[t-1], ..., s[t-m+1]; the factor
                # used for observation t+1 is the last one.
                season = row[-1] if seasonal else 0.0
                fit = fitted[t] if t < len(fitted) else float("nan")
                states.write(f"{name},{model},{damped},{t},{level!r},{trend!r},{season!r},{fit!r}\n")
print("wrote ets_data.csv ets_fits.csv ets_states.csv")
