"""Callbacks for Sequential.fit: called as callback(epoch, history) after every epoch.

LivePlot redraws the loss curves in a Jupyter notebook while training runs (the role of
Keras' TensorBoard callback, in the notebook itself). It draws with whichever matplotlib
backend is active, so it also runs headless (Agg, nbconvert, nbval).
"""
from __future__ import annotations


class LivePlot:
    """Redraw History.plot() in place at the end of every `every`-th epoch."""

    def __init__(self, every: int = 1):
        self.every = every

    def __call__(self, epoch: int, history) -> None:
        if (epoch + 1) % self.every:
            return
        import matplotlib.pyplot as plt
        from IPython.display import clear_output, display
        figure = history.plot()
        clear_output(wait=True)          # replace the previous drawing, without flicker
        display(figure)
        plt.close(figure)                # displayed once, not again when the cell ends

    def __repr__(self):
        return f"LivePlot(every={self.every})"
