"""wellposed.audit.data: the data audit and loading observations."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from wellposed.audit import AuditInputError, audit_data, load_data, validate_data


def _synthetic() -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    X[:, 1] = 7.0  # constant column
    X[:, 2] = rng.integers(0, 2, size=20)  # 0/1 column
    X[5] = X[3]  # duplicated row
    return X


def test_audit_data_finds_constant_zero_one_duplicates() -> None:
    res = audit_data(_synthetic())
    kinds = res.kinds()
    assert "constant_coordinate" in kinds and "exact_zero_one" in kinds
    assert "duplicate_rows" in kinds
    by = {f.kind: f for f in res.findings}
    assert by["constant_coordinate"].where == (1,)
    assert 2 in by["exact_zero_one"].where
    assert set(by["duplicate_rows"].where) == {3, 5}
    assert any("L6" in o for o in by["constant_coordinate"].objectives)
    assert any("continuous Bernoulli" in o for o in by["exact_zero_one"].objectives)


def test_audit_data_rank_and_quantization() -> None:
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(30, 2))
    X = Z @ rng.normal(size=(2, 5)) + 3.0
    assert audit_data(X, latent_dim=2).rank == 2
    assert "low_rank" in audit_data(X, latent_dim=2).kinds()
    assert "low_rank" not in audit_data(X, latent_dim=1).kinds()
    Q = rng.integers(0, 16, size=(100, 3)) / 15.0
    assert "quantized" in audit_data(Q).kinds()
    assert audit_data(rng.normal(size=(50, 3)), latent_dim=1).findings == ()


def test_load_data_errors(tmp_path) -> None:
    with pytest.raises(AuditInputError, match="does not exist"):
        load_data(tmp_path / "missing.npy")
    p = tmp_path / "x.txt"
    p.write_text("1 2 3")
    with pytest.raises(AuditInputError, match="not a .npy"):
        load_data(p)
    o = tmp_path / "obj.npy"
    np.save(o, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AuditInputError, match="object"):
        load_data(o)
    n = tmp_path / "nan.npy"
    np.save(n, np.array([1.0, np.nan]))
    with pytest.raises(AuditInputError, match="NaN"):
        load_data(n)
    d3 = tmp_path / "d3.npy"
    np.save(d3, np.zeros((2, 2, 2)))
    with pytest.raises(AuditInputError, match="ndim = 3"):
        load_data(d3)
    ok = tmp_path / "ok.npy"
    np.save(ok, np.arange(4, dtype=np.int32))
    assert load_data(ok).dtype == np.float64


class _Trap:
    """Unpickling this writes a file: proof that a pickle was (never) loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_load_data_refuses_what_is_not_a_numeric_npy_file(tmp_path) -> None:
    d = tmp_path / "dir.npy"
    d.mkdir()
    with pytest.raises(AuditInputError, match="is a directory; pass a .npy file"):
        load_data(d)
    t = tmp_path / "text.npy"
    t.write_text("0.5 0.25\n")
    with pytest.raises(
        AuditInputError,
        match=r"is not a NumPy .npy file \(it starts with "
        r"b'0.5 0.25\\n'\); save it with numpy.save",
    ) as exc:
        load_data(t)
    assert "allow_pickle" not in str(exc.value)
    e = tmp_path / "empty.npy"
    e.write_bytes(b"")
    with pytest.raises(AuditInputError, match=r"not a NumPy .npy file \(it is empty\)"):
        load_data(e)
    trap, p = tmp_path / "unpickled", tmp_path / "pickle.npy"
    p.write_bytes(pickle.dumps(_Trap(str(trap))))
    with pytest.raises(AuditInputError, match="not a NumPy .npy file"):
        load_data(p)
    o = tmp_path / "obj.npy"
    np.save(o, np.array([_Trap(str(trap))], dtype=object), allow_pickle=True)
    with pytest.raises(AuditInputError, match="holds an object array") as exc:
        load_data(o)
    assert "allow_pickle" not in str(exc.value) and not trap.exists()


def test_complex_and_non_finite_values_are_refused_not_truncated(tmp_path) -> None:
    c = tmp_path / "c.npy"
    np.save(c, np.array([1.0 + 0.5j, 2.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning would be an error here
        with pytest.raises(
            AuditInputError,
            match=r"complex values are not supported; pass the "
            r"real part explicitly \(x.real\) if that is what you mean",
        ):
            load_data(c)
        with pytest.raises(AuditInputError, match="complex values are not supported"):
            validate_data(np.array([1.0, 2.0], dtype=np.complex64))
    assert validate_data(np.array([1.0 + 0.5j]).real).tolist() == [1.0]
    with pytest.raises(
        AuditInputError,
        match=r"2 NaN or infinite entries \(the first at index "
        r"\(0, 1\): nan\)",
    ):
        validate_data(np.array([[1.0, np.nan], [-np.inf, 0.0]]))
    with pytest.raises(AuditInputError, match="rectangular"):
        validate_data([[1.0, 2.0], [3.0]])
