using LlamaGateway.Hosting;

GatewayApplication.Create(args).Run();
