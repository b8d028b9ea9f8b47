"""Pictures that appear where they are drawn, in Jupyter and nowhere else.

A function that returns a matplotlib Figure is only drawn by Jupyter when its call is the
cell's last expression; called earlier in the cell (`plot_confusion_matrix(cm, labels)`
then `print(accuracy)`), the picture never shows. shown(fig) displays it at once - in a
Jupyter kernel - and marks it, so that being the last expression as well does not draw it
twice. Scripts and tests get the Figure back, undisplayed, to save or inspect.
"""
from __future__ import annotations


def shown(fig):
    """Close fig for pyplot (no second drawing when the cell ends), display it now when a
    Jupyter kernel runs this, and return it."""
    import matplotlib.pyplot as plt
    plt.close(fig)
    display = kernel_display()
    if display is not None:
        display(fig)
        fig._ipython_display_ = _already_shown    # the cell's last expression: nothing more
    return fig


def kernel_display():
    """IPython's display() when a Jupyter kernel runs this code; else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from IPython.display import display
    return display


def _already_shown():
    return None
