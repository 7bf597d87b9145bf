using LlamaGateway.Hosting;

return await GatewayEntryPoint.RunAsync(args);
