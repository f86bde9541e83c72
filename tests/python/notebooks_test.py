#!/usr/bin/python3
"""The worked examples' notebooks (python/examples/*.ipynb) run from top to bottom with Debian's nbclient and the
python3 kernel of ipykernel, against the built packages and a real hybridserve they start themselves; each
notebook asserts its own result (SIR: β and γ within 2%; heat: the hybrid's held-out error below 0.7 of the
physics alone's), so a notebook that runs is one whose claim holds.

Usage: notebooks_test.py BUILD_DIR SOURCE_DIR
"""
import os
import sys
import unittest

import nbclient
import nbformat

BUILD, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
del sys.argv[1:3]
EXAMPLES = os.path.join(SOURCE, "python/examples")


def outputs(notebook):
    text = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", "") or "".join(out.get("data", {}).get("text/plain", "")))
    return "".join(text)


class WorkedExampleNotebooks(unittest.TestCase):
    def run_notebook(self, name):
        os.environ["PYTHONPATH"] = os.pathsep.join([os.path.join(BUILD, "python"), EXAMPLES])
        os.environ["HYBRIDSERVE"] = os.path.join(BUILD, "server/hybridserve")
        notebook = nbformat.read(os.path.join(EXAMPLES, name), as_version=4)
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": EXAMPLES}}).execute()
        text = outputs(notebook)
        print(text)
        return text

    def test_sir_notebook(self):
        text = self.run_notebook("sir_model.ipynb")
        self.assertIn("model 'sir' passes every load check", text)
        self.assertIn("beta 0.49", text)

    def test_heat_notebook(self):
        text = self.run_notebook("heat_model.ipynb")
        self.assertIn("model 'heat' passes every load check", text)
        self.assertIn("hybrid / physics-only held-out RMSE", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
