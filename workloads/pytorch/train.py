"""A tiny PyTorch training run: fits y = 3x + 1 and writes the result into /app/results."""

import json
import os
import socket

import torch

torch.manual_seed(0)
x = torch.linspace(-1, 1, 256).unsqueeze(1)
y = 3 * x + 1 + 0.05 * torch.randn_like(x)
model = torch.nn.Linear(1, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(300):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
os.makedirs("/app/results", exist_ok=True)
result = {"weight": model.weight.item(), "bias": model.bias.item(), "loss": loss.item(),
          "pod": socket.gethostname()}
with open("/app/results/pytorch.json", "w") as handle:
    json.dump(result, handle, indent=2)
print(json.dumps(result))
