"""Numeric gradient helpers: known derivatives, x restored, readable printouts."""
import numpy as np
import pytest

from cnnbook.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                    grad_check_sparse, rel_error)


def test_rel_error_is_the_largest_entrywise_relative_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert rel_error(np.array([1.0, 10.0]), np.array([1.0, 11.0])) == pytest.approx(1 / 21)
    # Near zero the denominator is floored at 1e-8 instead of exploding.
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)
    assert rel_error(3.0, 3.0) == 0
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_of_a_known_function_and_x_is_restored():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x_copy = x.copy()
    grad = eval_numerical_gradient(lambda v: np.sum(v ** 3) + np.sin(v).sum(), x)
    np.testing.assert_allclose(grad, 3 * x ** 2 + np.cos(x), rtol=1e-8)
    np.testing.assert_array_equal(x, x_copy)


def test_numerical_gradient_verbose_prints_each_entry(capsys):
    eval_numerical_gradient(lambda v: float(v @ v), np.array([1.0, 2.0]), verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("(0,)") and "4.0" in lines[1]


def test_numerical_gradient_array_is_the_vector_jacobian_product():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 3))
    x = rng.standard_normal((3, 2))
    df = rng.standard_normal((5, 2))
    grad = eval_numerical_gradient_array(lambda v: a @ v, x, df)
    np.testing.assert_allclose(grad, a.T @ df, rtol=1e-7)


def test_numerical_gradient_array_copes_with_f_returning_a_view_of_x():
    x = np.array([1.0, -2.0, 3.0])
    grad = eval_numerical_gradient_array(lambda v: v, x, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(grad, [1, 2, 3])


def test_numerical_gradient_array_rejects_a_mismatched_df():
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(3,\) but df has shape \(2,\)"):
        eval_numerical_gradient_array(lambda v: 2 * v, np.ones(3), np.ones(2))


def test_gradient_functions_need_a_float_array_to_perturb():
    with pytest.raises(TypeError, match="floating numpy array"):
        eval_numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(TypeError, match="dtype int64"):
        eval_numerical_gradient(np.sum, np.array([1, 2], dtype=np.int64))


def test_grad_check_sparse_reports_small_errors_for_a_right_gradient(capsys):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 10))
    errors = grad_check_sparse(lambda v: np.sum(v ** 2), x, 2 * x, num_checks=5, seed=0)
    assert len(errors) == 5 and max(errors) < 1e-8
    assert capsys.readouterr().out.count("relative error") == 5


def test_grad_check_sparse_exposes_a_wrong_gradient(capsys):
    x = np.random.default_rng(3).standard_normal((4, 4))
    errors = grad_check_sparse(lambda v: np.sum(v ** 2), x, 3 * x, num_checks=4, seed=1)
    assert min(errors) > 0.1
