"""Pictures of digits made the way people and devices make them, from MNIST's digits: the robustness suites."""
